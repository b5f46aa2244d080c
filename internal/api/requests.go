package api

import (
	"context"
	"errors"

	"github.com/tallyhq/tally/internal/store"
)

type requestStateJSON struct {
	RequestState string `json:"requestState"`
	Timestamp    string `json:"timestamp,omitempty"`
}

var unknownRequest = requestStateJSON{RequestState: "UNKNOWN"}

// getRequestState answers the state of a plugin request. As the spec says,
// an unknown organization or request token is UNKNOWN, not an error. Org
// readers see every request of their organization; product users (a product
// administrator, as the spec notes, and also members and integrators, who
// poll their own uploads) see the requests of their products.
func (a *API) getRequestState(ctx context.Context, c *call) (any, error) {
	token, err := c.str("requestToken")
	if err != nil {
		return nil, err
	}
	org, err := a.orgScope(ctx, c)
	if errors.Is(err, errInvalidOrg) {
		return unknownRequest, nil
	}
	if err != nil {
		return nil, err
	}
	r, err := a.store.RequestByToken(ctx, org.ID, token)
	if errors.Is(err, store.ErrNotFound) {
		return unknownRequest, nil
	}
	if err != nil {
		return nil, err
	}
	if !c.principal.CanReadProduct(r.ProductID) {
		return nil, errNotAllowed
	}
	return requestStateJSON{r.State, r.UpdatedAt.Format(requestTimeFormat)}, nil
}

// Package api answers the JSON API: one POST endpoint whose body names a
// requestType, dispatched to one handler per request type. Handlers are
// grouped per area (products, projects, tags, inventory, requests,
// notifications, organization).
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/store"
)

// MaxBodyBytes is the largest JSON API request body accepted (docs/api.md).
const MaxBodyBytes = 1 << 20

// API answers the JSON API from a store.
type API struct {
	store    *store.Store
	log      *slog.Logger
	handlers map[string]handlerFunc
	cache    *responseCache
}

// call is one API request being answered.
type call struct {
	fields    map[string]json.RawMessage
	principal *auth.Principal
}

type handlerFunc func(ctx context.Context, c *call) (any, error)

// New returns the JSON API handler.
func New(st *store.Store, log *slog.Logger) *API {
	a := &API{store: st, log: log, cache: newResponseCache(DefaultCacheBytes)}
	a.handlers = map[string]handlerFunc{
		// Products.
		"createProduct":  a.createProduct,
		"deleteProduct":  a.deleteProduct,
		"getAllProducts": a.getAllProducts,
		// Product tags.
		"getProductTags":             a.getProductTags,
		"getOrganizationProductTags": a.getOrganizationProductTags,
		"saveProductTag":             a.saveProductTag,
		"removeProductTag":           a.removeProductTag,
		// Projects.
		"createProject":  a.createProject,
		"deleteProject":  a.deleteProject,
		"getAllProjects": a.getAllProjects,
		// Project tags.
		"getOrganizationProjectTags": a.getOrganizationProjectTags,
		"getProductProjectTags":      a.getProductProjectTags,
		"getProjectTags":             a.getProjectTags,
		"saveProjectTag":             a.saveProjectTag,
		"removeProjectTag":           a.removeProjectTag,
		// Inventory.
		"getProjectHierarchy":           a.getProjectHierarchy,
		"getProjectInventory":           a.getProjectInventory,
		"getProjectState":               a.getProjectState,
		"getLibrarySourceFiles":         a.getLibrarySourceFiles,
		"getProjectLibraryDependencies": a.getProjectLibraryDependencies,
		// Notifications.
		"setProjectSetupNotificationConfig": a.setProjectSetupNotificationConfig,
		"getProjectSetupNotificationConfig": a.getProjectSetupNotificationConfig,
		// Plugin requests.
		"getRequestState": a.getRequestState,
		// Organization and vitals.
		"getOrganizationDetails":       a.getOrganizationDetails,
		"getOrganizationProductVitals": a.getOrganizationProductVitals,
		"getOrganizationProjectVitals": a.getOrganizationProjectVitals,
		"getProductProjectVitals":      a.getProductProjectVitals,
		"getProjectVitals":             a.getProjectVitals,
	}
	return a
}

// RequestTypes lists the request types the API answers.
func (a *API) RequestTypes() []string {
	out := make([]string, 0, len(a.handlers))
	for k := range a.handlers {
		out = append(out, k)
	}
	return out
}

// ServeHTTP answers one API request. The body is parsed as JSON whatever the
// Content-Type says, as real clients send various ones.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, errorf(CodeBodyTooLarge, "Request body is larger than %d bytes", MaxBodyBytes))
			return
		}
		writeError(w, errorf(CodeMalformedBody, "Could not read request body"))
		return
	}
	resp, apiErr := a.dispatch(r.Context(), body)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	writeJSON(w, resp)
}

func (a *API) dispatch(ctx context.Context, body []byte) ([]byte, *Error) {
	c := &call{}
	if err := json.Unmarshal(body, &c.fields); err != nil || c.fields == nil {
		return nil, errorf(CodeMalformedBody, "Request body must be a JSON object")
	}
	requestType, err := c.str("requestType")
	if err != nil {
		return nil, asAPIError(err)
	}
	h, ok := a.handlers[requestType]
	if !ok {
		return nil, errorf(CodeUnknownRequestType, "Unknown requestType: %s", requestType)
	}
	if c.principal, err = a.authenticate(ctx, c); err != nil {
		return nil, a.apiError(ctx, requestType, err)
	}
	v, err := h(ctx, c)
	if err != nil {
		return nil, a.apiError(ctx, requestType, err)
	}
	b, err := encodeSuccess(v)
	if err != nil {
		return nil, a.apiError(ctx, requestType, fmt.Errorf("encode response: %w", err))
	}
	return b, nil
}

func asAPIError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// apiError turns a handler's error into its wire form, logging faults.
func (a *API) apiError(ctx context.Context, requestType string, err error) *Error {
	if e := asAPIError(err); e != nil {
		return e
	}
	a.log.ErrorContext(ctx, "api request failed", "requestType", requestType, "err", err)
	return errUnexpectedError
}

// authenticate finds the user of the call's userKey.
func (a *API) authenticate(ctx context.Context, c *call) (*auth.Principal, error) {
	key, err := c.str("userKey")
	if err != nil {
		return nil, err
	}
	if len(key) != auth.KeyLength {
		return nil, errInvalidUserKey
	}
	u, err := a.store.AuthenticateKey(ctx, auth.HashKey(key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidUserKey
	}
	if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !u.OrgActive {
		return nil, errInactiveOrg
	}
	return &auth.Principal{UserID: u.ID, OrgID: u.OrgID, Email: u.Email, Grants: u.Grants}, nil
}

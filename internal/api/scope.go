package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/store"
)

// Scope resolution: each call names its scope by one token. An unknown token
// is an error of its kind (so clients probing a token's kind get an error,
// never an empty list); a token of another organization is 5001.

func (a *API) orgScope(ctx context.Context, c *call) (store.Org, error) {
	token, err := c.str("orgToken")
	if err != nil {
		return store.Org{}, err
	}
	org, err := a.store.OrgByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return store.Org{}, errInvalidOrg
	}
	if err != nil {
		return store.Org{}, fmt.Errorf("org scope: %w", err)
	}
	if org.ID != c.principal.OrgID {
		return store.Org{}, errNotAllowed
	}
	return org, nil
}

func (a *API) productScope(ctx context.Context, c *call) (store.Product, error) {
	token, err := c.str("productToken")
	if err != nil {
		return store.Product{}, err
	}
	p, err := a.store.ProductByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return store.Product{}, errInvalidProduct
	}
	if err != nil {
		return store.Product{}, fmt.Errorf("product scope: %w", err)
	}
	if p.OrgID != c.principal.OrgID {
		return store.Product{}, errNotAllowed
	}
	return p, nil
}

func (a *API) projectScope(ctx context.Context, c *call) (store.Project, error) {
	token, err := c.str("projectToken")
	if err != nil {
		return store.Project{}, err
	}
	p, err := a.store.ProjectByToken(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return store.Project{}, errInvalidProject
	}
	if err != nil {
		return store.Project{}, fmt.Errorf("project scope: %w", err)
	}
	if p.OrgID != c.principal.OrgID {
		return store.Project{}, errNotAllowed
	}
	return p, nil
}

// Permission checks, each returning 5001 when denied.

func allow(ok bool) error {
	if !ok {
		return errNotAllowed
	}
	return nil
}

// readableProject resolves the project scope for a read.
func (a *API) readableProject(ctx context.Context, c *call) (store.Project, error) {
	p, err := a.projectScope(ctx, c)
	if err != nil {
		return store.Project{}, err
	}
	return p, allow(c.principal.CanReadProduct(p.ProductID))
}

// readableProduct resolves the product scope for a read.
func (a *API) readableProduct(ctx context.Context, c *call) (store.Product, error) {
	p, err := a.productScope(ctx, c)
	if err != nil {
		return store.Product{}, err
	}
	return p, allow(c.principal.CanReadProduct(p.ID))
}

// readableOrg resolves the org scope for an organization-wide read.
func (a *API) readableOrg(ctx context.Context, c *call) (store.Org, error) {
	o, err := a.orgScope(ctx, c)
	if err != nil {
		return store.Org{}, err
	}
	return o, allow(c.principal.CanReadOrg())
}

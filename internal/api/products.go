package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/store"
)

func (a *API) createProduct(ctx context.Context, c *call) (any, error) {
	org, err := a.orgScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanCreateProducts()); err != nil {
		return nil, err
	}
	name, err := c.name("productName")
	if err != nil {
		return nil, err
	}
	p, err := a.store.CreateProduct(ctx, org.ID, name)
	if errors.Is(err, store.ErrConflict) {
		return nil, errorf(CodeProductNameTaken, "Product name %s already exists in the organization", name)
	}
	if err != nil {
		return nil, err
	}
	return struct {
		ProductToken string `json:"productToken"`
		Message      string `json:"message"`
	}{p.Token, "Successfully created product " + p.Name}, nil
}

func (a *API) deleteProduct(ctx context.Context, c *call) (any, error) {
	p, err := a.productScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.IsOrgAdmin()); err != nil {
		return nil, err
	}
	// The spec sends orgToken too; when present it must be the product's.
	if c.has("orgToken") {
		if _, err := a.orgScope(ctx, c); err != nil {
			return nil, err
		}
	}
	if err := a.store.DeleteProduct(ctx, p); err != nil {
		return nil, err
	}
	return message{"Successfully deleted product " + p.Name}, nil
}

type message struct {
	Message string `json:"message"`
}

type productRef struct {
	ProductID    int64  `json:"productId"`
	ProductName  string `json:"productName"`
	ProductToken string `json:"productToken"`
}

func (a *API) getAllProducts(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	products, err := a.store.ProductsByOrg(ctx, org.ID)
	if err != nil {
		return nil, fmt.Errorf("get all products: %w", err)
	}
	out := make([]productRef, 0, len(products))
	for _, p := range products {
		out = append(out, productRef{p.ID, p.Name, p.Token})
	}
	return struct {
		Products []productRef `json:"products"`
	}{out}, nil
}

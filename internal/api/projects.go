package api

import (
	"context"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/store"
)

func (a *API) createProject(ctx context.Context, c *call) (any, error) {
	product, err := a.productScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(product.ID)); err != nil {
		return nil, err
	}
	name, err := c.name("projectName")
	if err != nil {
		return nil, err
	}
	desc, err := c.optStr("projectDescription")
	if err != nil {
		return nil, err
	}
	if err := checkText("projectDescription", desc, maxDescriptionLen); err != nil {
		return nil, err
	}
	p, err := a.store.CreateProject(ctx, product, name, desc)
	if errors.Is(err, store.ErrConflict) {
		return nil, errorf(CodeProjectNameTaken, "Project name %s already exists in product %s", name, product.Name)
	}
	if err != nil {
		return nil, err
	}
	return struct {
		ProjectToken string `json:"projectToken"`
		Message      string `json:"message"`
	}{p.Token, "Successfully created project " + p.Name}, nil
}

func (a *API) deleteProject(ctx context.Context, c *call) (any, error) {
	p, err := a.projectScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(p.ProductID)); err != nil {
		return nil, err
	}
	// The spec sends the parent product's token; when present it must be
	// the project's product, so a mixed-up pair never deletes the wrong thing.
	if c.has("productToken") {
		product, err := a.productScope(ctx, c)
		if err != nil {
			return nil, err
		}
		if product.ID != p.ProductID {
			return nil, errorf(CodeInvalidParameters, "Project %s is not in product %s", p.Name, product.Name)
		}
	}
	if err := a.store.DeleteProject(ctx, p); err != nil {
		return nil, err
	}
	return message{"Successfully deleted project " + p.Name}, nil
}

type projectRef struct {
	ProjectID    int64  `json:"projectId"`
	ProjectName  string `json:"projectName"`
	ProjectToken string `json:"projectToken"`
}

func (a *API) getAllProjects(ctx context.Context, c *call) (any, error) {
	product, err := a.readableProduct(ctx, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.store.ProjectsByProduct(ctx, product.ID)
	if err != nil {
		return nil, fmt.Errorf("get all projects: %w", err)
	}
	out := make([]projectRef, 0, len(projects))
	for _, p := range projects {
		out = append(out, projectRef{p.ID, p.Name, p.Token})
	}
	return struct {
		Projects []projectRef `json:"projects"`
	}{out}, nil
}

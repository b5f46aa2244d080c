package api

import (
	"context"

	"github.com/tallyhq/tally/internal/store"
)

func (a *API) getOrganizationDetails(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	n, err := a.store.CountOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	return struct {
		OrgName          string `json:"orgName"`
		OrgToken         string `json:"orgToken"`
		CreationDate     string `json:"creationDate"`
		NumberOfProducts int    `json:"numberOfProducts"`
		NumberOfProjects int    `json:"numberOfProjects"`
		NumberOfUsers    int    `json:"numberOfUsers"`
		NumberOfGroups   int    `json:"numberOfGroups"`
	}{org.Name, org.Token, org.CreatedAt.Format(vitalsTimeFormat), n.Products, n.Projects, n.Users, 0}, nil
}

type productVitals struct {
	Name            string `json:"name"`
	Token           string `json:"token"`
	CreationDate    string `json:"creationDate"`
	LastUpdatedDate string `json:"lastUpdatedDate"`
}

func (a *API) getOrganizationProductVitals(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	products, err := a.store.ProductsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := make([]productVitals, 0, len(products))
	for _, p := range products {
		out = append(out, productVitals{p.Name, p.Token, p.CreatedAt.Format(vitalsTimeFormat), p.UpdatedAt.Format(vitalsTimeFormat)})
	}
	return struct {
		ProductVitals []productVitals `json:"productVitals"`
	}{out}, nil
}

type projectVitals struct {
	PluginName      string `json:"pluginName"`
	ID              int64  `json:"id"`
	Name            string `json:"name"`
	Token           string `json:"token"`
	UploadedBy      string `json:"uploadedBy"`
	RequestToken    string `json:"requestToken"`
	CreationDate    string `json:"creationDate"`
	LastUpdatedDate string `json:"lastUpdatedDate"`
	ProductName     string `json:"productName"`
	LastScanComment string `json:"lastScanComment"`
}

type projectVitalsList struct {
	ProjectVitals []projectVitals `json:"projectVitals"`
}

func vitalsOf(projects ...store.Project) projectVitalsList {
	out := make([]projectVitals, 0, len(projects))
	for _, p := range projects {
		out = append(out, projectVitals{
			PluginName: p.PluginName, ID: p.ID, Name: p.Name, Token: p.Token, UploadedBy: p.UploadedBy,
			RequestToken: p.LastRequestToken, CreationDate: p.CreatedAt.Format(vitalsTimeFormat),
			LastUpdatedDate: p.UpdatedAt.Format(vitalsTimeFormat), ProductName: p.ProductName, LastScanComment: p.LastScanComment,
		})
	}
	return projectVitalsList{out}
}

func (a *API) getOrganizationProjectVitals(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.store.ProjectsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	return vitalsOf(projects...), nil
}

func (a *API) getProductProjectVitals(ctx context.Context, c *call) (any, error) {
	product, err := a.readableProduct(ctx, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.store.ProjectsByProduct(ctx, product.ID)
	if err != nil {
		return nil, err
	}
	return vitalsOf(projects...), nil
}

func (a *API) getProjectVitals(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	return vitalsOf(p), nil
}

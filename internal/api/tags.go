package api

import (
	"context"
	"fmt"
	"strings"

	"github.com/tallyhq/tally/internal/store"
)

// tagged is one product or project with its tags, the element of every tag
// read. Tags map a key to the list of its values ({} when none).
type tagged struct {
	Name  string     `json:"name"`
	Token string     `json:"token"`
	Tags  store.Tags `json:"tags"`
}

// savedTag is the shape the spec shows for save responses: the saved pair as
// key → value string.
type savedTag struct {
	Name  string            `json:"name"`
	Token string            `json:"token"`
	Tags  map[string]string `json:"tags"`
}

func tagsOrEmpty(t store.Tags) store.Tags {
	if t == nil {
		return store.Tags{}
	}
	return t
}

// tagPair reads and validates tagKey and tagValue.
func tagPair(c *call) (key, value string, err error) {
	if key, err = c.str("tagKey"); err != nil {
		return "", "", err
	}
	if value, err = c.str("tagValue"); err != nil {
		return "", "", err
	}
	key, value = strings.TrimSpace(key), strings.TrimSpace(value)
	if err := checkText("tagKey", key, maxTagKeyLen); err != nil {
		return "", "", err
	}
	if err := checkText("tagValue", value, maxTagValueLen); err != nil {
		return "", "", err
	}
	if err := CheckTagKey(key); err != nil {
		return "", "", err
	}
	return key, value, nil
}

// CheckTagKey refuses tag keys that clients would read as an error: tag keys
// become JSON object keys in every tag read.
func CheckTagKey(key string) error {
	if strings.Contains(key, "errorCode") || strings.Contains(key, "errorMessage") {
		return errorf(CodeInvalidParameters, "Invalid value for tagKey: %q is reserved", key)
	}
	return nil
}

// Product tags.

func (a *API) getProductTags(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProduct(ctx, c)
	if err != nil {
		return nil, err
	}
	tags, err := a.store.TagsOf(ctx, store.ProductTag, p.ID)
	if err != nil {
		return nil, err
	}
	return productTags{[]tagged{{p.Name, p.Token, tags}}}, nil
}

type productTags struct {
	ProductTags []tagged `json:"productTags"`
}

type projectTags struct {
	ProjectTags []tagged `json:"projectTags"`
}

func (a *API) getOrganizationProductTags(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	products, err := a.store.ProductsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	tags, err := a.store.ProductTagsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	out := make([]tagged, 0, len(products))
	for _, p := range products {
		out = append(out, tagged{p.Name, p.Token, tagsOrEmpty(tags[p.ID])})
	}
	return productTags{out}, nil
}

func (a *API) saveProductTag(ctx context.Context, c *call) (any, error) {
	p, err := a.productScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(p.ID)); err != nil {
		return nil, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return nil, err
	}
	if err := a.store.AddTag(ctx, store.ProductTag, p.ID, key, value); err != nil {
		return nil, err
	}
	return struct {
		ProductTagsInfo savedTag `json:"productTagsInfo"`
	}{savedTag{p.Name, p.Token, map[string]string{key: value}}}, nil
}

func (a *API) removeProductTag(ctx context.Context, c *call) (any, error) {
	p, err := a.productScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(p.ID)); err != nil {
		return nil, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return nil, err
	}
	removed, err := a.store.RemoveTag(ctx, store.ProductTag, p.ID, key, value)
	if err != nil {
		return nil, err
	}
	if !removed {
		return nil, errorf(CodeTagNotFound, "Product %s has no tag %s: %s", p.Name, key, value)
	}
	return message{"Successfully removed product tag"}, nil
}

// Project tags.

func (a *API) getOrganizationProjectTags(ctx context.Context, c *call) (any, error) {
	org, err := a.readableOrg(ctx, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.store.ProjectsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	tags, err := a.store.ProjectTagsByOrg(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	return projectTags{taggedProjects(projects, tags)}, nil
}

func (a *API) getProductProjectTags(ctx context.Context, c *call) (any, error) {
	product, err := a.readableProduct(ctx, c)
	if err != nil {
		return nil, err
	}
	projects, err := a.store.ProjectsByProduct(ctx, product.ID)
	if err != nil {
		return nil, err
	}
	tags, err := a.store.ProjectTagsByProduct(ctx, product.ID)
	if err != nil {
		return nil, err
	}
	return projectTags{taggedProjects(projects, tags)}, nil
}

func taggedProjects(projects []store.Project, tags map[int64]store.Tags) []tagged {
	out := make([]tagged, 0, len(projects))
	for _, p := range projects {
		out = append(out, tagged{p.Name, p.Token, tagsOrEmpty(tags[p.ID])})
	}
	return out
}

func (a *API) getProjectTags(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	tags, err := a.store.TagsOf(ctx, store.ProjectTag, p.ID)
	if err != nil {
		return nil, err
	}
	return projectTags{[]tagged{{p.Name, p.Token, tags}}}, nil
}

func (a *API) saveProjectTag(ctx context.Context, c *call) (any, error) {
	p, err := a.projectScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(p.ProductID)); err != nil {
		return nil, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return nil, err
	}
	if err := a.store.AddTag(ctx, store.ProjectTag, p.ID, key, value); err != nil {
		return nil, err
	}
	return struct {
		ProjectTags savedTag `json:"projectTags"`
	}{savedTag{p.Name, p.Token, map[string]string{key: value}}}, nil
}

func (a *API) removeProjectTag(ctx context.Context, c *call) (any, error) {
	p, err := a.projectScope(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := allow(c.principal.CanAdminProduct(p.ProductID)); err != nil {
		return nil, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return nil, err
	}
	removed, err := a.store.RemoveTag(ctx, store.ProjectTag, p.ID, key, value)
	if err != nil {
		return nil, fmt.Errorf("remove project tag: %w", err)
	}
	if !removed {
		return nil, errorf(CodeTagNotFound, "Project %s has no tag %s: %s", p.Name, key, value)
	}
	return message{"Successfully removed project tag"}, nil
}

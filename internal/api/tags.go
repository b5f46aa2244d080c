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

// Saving and removing tags work alike on products and projects: a
// tagTarget is the product or project a call names, once its scope and the
// caller's right to change it are checked.
type tagTarget struct {
	owner       store.TagOwner
	kind        string // "Product" or "Project", for messages
	id          int64
	name, token string
}

// productTagTarget resolves productToken for a tag change.
func (a *API) productTagTarget(ctx context.Context, c *call) (tagTarget, error) {
	p, err := a.productScope(ctx, c)
	if err != nil {
		return tagTarget{}, err
	}
	return tagTarget{store.ProductTag, "Product", p.ID, p.Name, p.Token}, allow(c.principal.CanAdminProduct(p.ID))
}

// projectTagTarget resolves projectToken for a tag change.
func (a *API) projectTagTarget(ctx context.Context, c *call) (tagTarget, error) {
	p, err := a.projectScope(ctx, c)
	if err != nil {
		return tagTarget{}, err
	}
	return tagTarget{store.ProjectTag, "Project", p.ID, p.Name, p.Token}, allow(c.principal.CanAdminProduct(p.ProductID))
}

// saveTag appends a tag value; the response shows the saved pair.
func (a *API) saveTag(ctx context.Context, c *call, resolve func(context.Context, *call) (tagTarget, error)) (savedTag, error) {
	t, err := resolve(ctx, c)
	if err != nil {
		return savedTag{}, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return savedTag{}, err
	}
	if err := a.store.AddTag(ctx, t.owner, t.id, key, value); err != nil {
		return savedTag{}, fmt.Errorf("save tag: %w", err)
	}
	return savedTag{t.name, t.token, map[string]string{key: value}}, nil
}

// removeTag deletes one tag value; the key goes with its last value.
func (a *API) removeTag(ctx context.Context, c *call, resolve func(context.Context, *call) (tagTarget, error)) (any, error) {
	t, err := resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	key, value, err := tagPair(c)
	if err != nil {
		return nil, err
	}
	removed, err := a.store.RemoveTag(ctx, t.owner, t.id, key, value)
	if err != nil {
		return nil, fmt.Errorf("remove tag: %w", err)
	}
	if !removed {
		return nil, errorf(CodeTagNotFound, "%s %s has no tag %s: %s", t.kind, t.name, key, value)
	}
	return message{"Successfully removed " + strings.ToLower(t.kind) + " tag"}, nil
}

func (a *API) saveProductTag(ctx context.Context, c *call) (any, error) {
	saved, err := a.saveTag(ctx, c, a.productTagTarget)
	if err != nil {
		return nil, err
	}
	return struct {
		ProductTagsInfo savedTag `json:"productTagsInfo"`
	}{saved}, nil
}

func (a *API) removeProductTag(ctx context.Context, c *call) (any, error) {
	return a.removeTag(ctx, c, a.productTagTarget)
}

func (a *API) saveProjectTag(ctx context.Context, c *call) (any, error) {
	saved, err := a.saveTag(ctx, c, a.projectTagTarget)
	if err != nil {
		return nil, err
	}
	return struct {
		ProjectTags savedTag `json:"projectTags"`
	}{saved}, nil
}

func (a *API) removeProjectTag(ctx context.Context, c *call) (any, error) {
	return a.removeTag(ctx, c, a.projectTagTarget)
}

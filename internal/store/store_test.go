package store_test

import (
	"context"
	"errors"
	"regexp"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// openStore opens a store on a new database of the backend under test.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), tallytest.NewDatabase(t, t.TempDir()))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var (
	reHex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)
	reUUID  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

func TestOrgsAndUsers(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if n, err := s.CountOrgs(ctx); err != nil || n != 0 {
		t.Fatalf("new database: %d orgs, %v", n, err)
	}
	adminKey := auth.NewKey()
	org, err := s.CreateOrg(ctx, "Acme", "admin@acme.example", auth.HashKey(adminKey))
	if err != nil {
		t.Fatal(err)
	}
	if !reHex64.MatchString(org.Token) || org.Name != "Acme" || !org.Active || org.CreatedAt.IsZero() {
		t.Errorf("created org: %+v", org)
	}
	for name, find := range map[string]func() (store.Org, error){
		"by token": func() (store.Org, error) { return s.OrgByToken(ctx, org.Token) },
		"by id":    func() (store.Org, error) { return s.OrgByID(ctx, org.ID) },
	} {
		got, err := find()
		if err != nil || got.ID != org.ID || got.Token != org.Token || got.Name != "Acme" || !got.CreatedAt.Equal(org.CreatedAt) {
			t.Errorf("org %s: %+v, %v", name, got, err)
		}
	}
	if _, err := s.OrgByToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown org token: %v, want ErrNotFound", err)
	}

	p, err := s.AuthenticateKey(ctx, auth.HashKey(adminKey))
	if err != nil {
		t.Fatal(err)
	}
	if p.OrgID != org.ID || p.Email != "admin@acme.example" || !p.OrgActive ||
		!cmp.Equal(p.Grants, []auth.Grant{{Role: auth.OrgAdmin}}) {
		t.Errorf("bootstrap admin: %+v", p)
	}
	if _, err := s.AuthenticateKey(ctx, auth.HashKey(auth.NewKey())); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown key: %v, want ErrNotFound", err)
	}

	product, err := s.CreateProduct(ctx, org.ID, "Alpha")
	if err != nil {
		t.Fatal(err)
	}
	memberKey := auth.NewKey()
	u, err := s.CreateUser(ctx, org.ID, "member@acme.example", auth.HashKey(memberKey), auth.ProductMember, product.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateUser(ctx, org.ID, "member@acme.example", auth.HashKey(auth.NewKey()), auth.OrgReadonly, 0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same email twice: %v, want ErrConflict", err)
	}
	if err := s.GrantRole(ctx, "member@acme.example", auth.ProductAdmin, product.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.GrantRole(ctx, "nobody@acme.example", auth.OrgAdmin, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("grant to unknown email: %v, want ErrNotFound", err)
	}
	p, err = s.AuthenticateKey(ctx, auth.HashKey(memberKey))
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.Grant{{Role: auth.ProductMember, ProductID: product.ID}, {Role: auth.ProductAdmin, ProductID: product.ID}}
	if p.ID != u.ID || !cmp.Equal(sortGrants(p.Grants), sortGrants(want)) {
		t.Errorf("member: %+v, want grants %v", p, want)
	}
	if got, err := s.OrgAdminEmails(ctx, org.ID); err != nil || !cmp.Equal(got, []string{"admin@acme.example"}) {
		t.Errorf("org admin emails: %v, %v", got, err)
	}
	if got, err := s.ProductAdminEmails(ctx, product.ID); err != nil || !cmp.Equal(got, []string{"member@acme.example"}) {
		t.Errorf("product admin emails: %v, %v", got, err)
	}

	// Rotation: the old hash stops authenticating.
	newKey := auth.NewKey()
	if err := s.RotateKey(ctx, "member@acme.example", auth.HashKey(newKey)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateKey(ctx, auth.HashKey(memberKey)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old key after rotation: %v, want ErrNotFound", err)
	}
	if p, err := s.AuthenticateKey(ctx, auth.HashKey(newKey)); err != nil || p.ID != u.ID || len(p.Grants) != 2 {
		t.Errorf("new key: %+v, %v", p, err)
	}
	if err := s.RotateKey(ctx, "nobody@acme.example", "h"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("rotate unknown email: %v, want ErrNotFound", err)
	}

	// Deactivation is seen at authentication.
	if err := s.SetOrgActive(ctx, org.ID, false); err != nil {
		t.Fatal(err)
	}
	if p, err := s.AuthenticateKey(ctx, auth.HashKey(adminKey)); err != nil || p.OrgActive {
		t.Errorf("inactive org: %+v, %v", p, err)
	}
	c, err := s.CountOrg(ctx, org.ID)
	if err != nil || c != (store.OrgCounts{Products: 1, Projects: 0, Users: 2}) {
		t.Errorf("counts: %+v, %v", c, err)
	}
}

func sortGrants(g []auth.Grant) []auth.Grant {
	out := append([]auth.Grant(nil), g...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Role < out[i].Role {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func TestProductsAndProjects(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	org, err := s.CreateOrg(ctx, "Acme", "admin@acme.example", "h1")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.CreateOrg(ctx, "Other", "admin@other.example", "h2")
	if err != nil {
		t.Fatal(err)
	}
	var products []store.Product
	for _, name := range []string{"beta", "Alpha", "alpha"} {
		p, err := s.CreateProduct(ctx, org.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		if !reHex64.MatchString(p.Token) || p.OrgID != org.ID || p.Name != name {
			t.Errorf("created product: %+v", p)
		}
		products = append(products, p)
	}
	if _, err := s.CreateProduct(ctx, org.ID, "beta"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate product name: %v, want ErrConflict", err)
	}
	if _, err := s.CreateProduct(ctx, other.ID, "beta"); err != nil {
		t.Errorf("same name in another org: %v", err)
	}
	list, err := s.ProductsByOrg(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range list {
		names = append(names, p.Name)
	}
	if !cmp.Equal(names, []string{"Alpha", "alpha", "beta"}) {
		t.Errorf("products by name: %v", names)
	}
	beta := products[0]
	if got, err := s.ProductByName(ctx, org.ID, "beta"); err != nil || got.ID != beta.ID {
		t.Errorf("product by name: %+v, %v", got, err)
	}
	if got, err := s.ProductByToken(ctx, beta.Token); err != nil || got.ID != beta.ID || got.Name != "beta" {
		t.Errorf("product by token: %+v, %v", got, err)
	}
	if _, err := s.ProductByToken(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown product token: %v", err)
	}

	pj, err := s.CreateProject(ctx, beta, "web", "the web app")
	if err != nil {
		t.Fatal(err)
	}
	if !reUUID.MatchString(pj.Token) || pj.ProductID != beta.ID || pj.OrgID != org.ID || pj.ProductName != "beta" || pj.LastProcess != "SETUP" {
		t.Errorf("created project: %+v", pj)
	}
	if _, err := s.CreateProject(ctx, beta, "web", ""); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate project name: %v, want ErrConflict", err)
	}
	if _, err := s.CreateProject(ctx, products[1], "web", ""); err != nil {
		t.Errorf("same project name in another product: %v", err)
	}
	if _, err := s.CreateProject(ctx, beta, "api", ""); err != nil {
		t.Fatal(err)
	}
	got, err := s.ProjectByToken(ctx, pj.Token)
	if err != nil || got.Name != "web" || got.Description != "the web app" || got.ProductName != "beta" || got.OrgID != org.ID ||
		!got.CreatedAt.Equal(pj.CreatedAt) {
		t.Errorf("project by token: %+v, %v", got, err)
	}
	if after, _ := s.ProductByToken(ctx, beta.Token); after.UpdatedAt.Before(pj.CreatedAt) {
		t.Errorf("creating a project does not touch the product's update time")
	}
	byProduct, _ := s.ProjectsByProduct(ctx, beta.ID)
	byOrg, _ := s.ProjectsByOrg(ctx, org.ID)
	projectNames := func(ps []store.Project) (out []string) {
		for _, p := range ps {
			out = append(out, p.ProductName+"/"+p.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"beta/api", "beta/web"}, projectNames(byProduct)); diff != "" {
		t.Errorf("projects of beta (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Alpha/web", "beta/api", "beta/web"}, projectNames(byOrg)); diff != "" {
		t.Errorf("projects of the org (-want +got):\n%s", diff)
	}
	if err := s.DeleteProject(ctx, pj); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ProjectByToken(ctx, pj.Token); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted project: %v", err)
	}
	if err := s.DeleteProduct(ctx, beta); err != nil {
		t.Fatal(err)
	}
	if left, _ := s.ProjectsByOrg(ctx, org.ID); len(left) != 1 {
		t.Errorf("projects after deleting beta: %v", projectNames(left))
	}
	c, _ := s.CountOrg(ctx, org.ID)
	if c.Products != 2 || c.Projects != 1 {
		t.Errorf("counts after deletes: %+v", c)
	}
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	org, err := s.CreateOrg(ctx, "Acme", "admin@acme.example", "h1")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.CreateProduct(ctx, org.ID, "A")
	b, _ := s.CreateProduct(ctx, org.ID, "B")
	pa, _ := s.CreateProject(ctx, a, "pa", "")
	pb, _ := s.CreateProject(ctx, b, "pb", "")

	if got, err := s.TagsOf(ctx, store.ProductTag, a.ID); err != nil || got == nil || len(got) != 0 {
		t.Errorf("no tags: %#v, %v (want an empty, non-nil map)", got, err)
	}
	for _, kv := range [][2]string{{"env", "prod"}, {"env", "dev"}, {"env", "prod"}, {"team", "core"}} {
		if err := s.AddTag(ctx, store.ProductTag, a.ID, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddTag(ctx, store.ProjectTag, pa.ID, "env", "prod"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTag(ctx, store.ProjectTag, pb.ID, "x", "y"); err != nil {
		t.Fatal(err)
	}
	got, err := s.TagsOf(ctx, store.ProductTag, a.ID)
	if diff := cmp.Diff(store.Tags{"env": {"prod", "dev"}, "team": {"core"}}, got); err != nil || diff != "" {
		t.Errorf("product tags (-want +got):\n%s %v", diff, err)
	}
	removed, err := s.RemoveTag(ctx, store.ProductTag, a.ID, "env", "prod")
	if err != nil || !removed {
		t.Errorf("remove: %v, %v", removed, err)
	}
	if removed, err := s.RemoveTag(ctx, store.ProductTag, a.ID, "env", "prod"); err != nil || removed {
		t.Errorf("remove again: %v, %v (want false)", removed, err)
	}
	// The same pair on a project is separate from the product's.
	if removed, _ := s.RemoveTag(ctx, store.ProductTag, a.ID, "x", "y"); removed {
		t.Errorf("removed a project's tag through the product")
	}
	byOrg, err := s.ProductTagsByOrg(ctx, org.ID)
	if diff := cmp.Diff(map[int64]store.Tags{a.ID: {"env": {"dev"}, "team": {"core"}}}, byOrg); err != nil || diff != "" {
		t.Errorf("product tags by org (-want +got):\n%s %v", diff, err)
	}
	projByOrg, _ := s.ProjectTagsByOrg(ctx, org.ID)
	if diff := cmp.Diff(map[int64]store.Tags{pa.ID: {"env": {"prod"}}, pb.ID: {"x": {"y"}}}, projByOrg); diff != "" {
		t.Errorf("project tags by org (-want +got):\n%s", diff)
	}
	projByProduct, _ := s.ProjectTagsByProduct(ctx, b.ID)
	if diff := cmp.Diff(map[int64]store.Tags{pb.ID: {"x": {"y"}}}, projByProduct); diff != "" {
		t.Errorf("project tags by product (-want +got):\n%s", diff)
	}
}

func TestNotificationConfig(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	org, err := s.CreateOrg(ctx, "Acme", "admin@acme.example", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.NotificationConfigOf(ctx, org.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("never set: %v, want ErrNotFound", err)
	}
	for _, c := range []store.NotificationConfig{
		{Action: "CUSTOM", KeyRegex: "^env$", ValueRegex: "^prod"},
		{Action: "ENABLED"},
	} {
		if err := s.SetNotificationConfig(ctx, org.ID, c); err != nil {
			t.Fatal(err)
		}
		got, err := s.NotificationConfigOf(ctx, org.ID)
		if err != nil || got.Action != c.Action || got.KeyRegex != c.KeyRegex || got.ValueRegex != c.ValueRegex || got.UpdatedAt.IsZero() {
			t.Errorf("after set %+v: %+v, %v", c, got, err)
		}
	}
}

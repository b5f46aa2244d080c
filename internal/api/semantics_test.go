package api_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/api"
)

// tagsOf reads the tags of the one product or project a tag read answers.
func tagsOf(t *testing.T, res result, listKey string) map[string][]string {
	t.Helper()
	list, ok := res.m[listKey].([]any)
	if !ok || len(list) != 1 {
		t.Fatalf("%s: want a list of one, got %s", listKey, res.raw)
	}
	return decodeTags(t, list[0].(map[string]any)["tags"])
}

func decodeTags(t *testing.T, v any) map[string][]string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("tags is not an object: %v", v)
	}
	out := map[string][]string{}
	for k, vals := range m {
		list, ok := vals.([]any)
		if !ok {
			t.Fatalf("tags[%q] is not a list: %v", k, vals)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				t.Fatalf("tags[%q] holds a non-string: %v", k, e)
			}
			out[k] = append(out[k], s)
		}
	}
	return out
}

// tagsByName reads a list of tagged things into name → tags.
func tagsByName(t *testing.T, res result, listKey string) map[string]map[string][]string {
	t.Helper()
	out := map[string]map[string][]string{}
	for _, e := range res.m[listKey].([]any) {
		o := e.(map[string]any)
		out[o["name"].(string)] = decodeTags(t, o["tags"])
	}
	return out
}

// TestTagSemantics: tags are multi-valued at every level; a save appends, a
// repeated save keeps one, a remove deletes one value, and the key goes with
// its last value; no tags read as {}.
func TestTagSemantics(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	product := r.CreateProduct("Alpha")
	bare := r.CreateProduct("Bare")
	project := r.CreateProject(product, "alpha-api")
	r.CreateProject(product, "alpha-web")

	type level struct {
		name                  string
		save, remove, get     string
		tokenField, token     string
		listKey               string
		orgRead, orgListKey   string
		productRead, prodList string
	}
	levels := []level{
		{name: "product", save: "saveProductTag", remove: "removeProductTag", get: "getProductTags", tokenField: "productToken", token: product,
			listKey: "productTags", orgRead: "getOrganizationProductTags", orgListKey: "productTags"},
		{name: "project", save: "saveProjectTag", remove: "removeProjectTag", get: "getProjectTags", tokenField: "projectToken", token: project,
			listKey: "projectTags", orgRead: "getOrganizationProjectTags", orgListKey: "projectTags", productRead: "getProductProjectTags", prodList: "projectTags"},
	}
	for _, l := range levels {
		t.Run(l.name, func(t *testing.T) {
			get := func() map[string][]string {
				return tagsOf(t, r.mustOK(req(l.get, key, l.tokenField, l.token)), l.listKey)
			}
			save := func(k, v string) { r.mustOK(req(l.save, key, l.tokenField, l.token, "tagKey", k, "tagValue", v)) }
			remove := func(k, v string) { r.mustOK(req(l.remove, key, l.tokenField, l.token, "tagKey", k, "tagValue", v)) }
			check := func(step string, want map[string][]string) {
				t.Helper()
				if diff := cmp.Diff(want, get()); diff != "" {
					t.Errorf("%s: tags (-want +got):\n%s", step, diff)
				}
			}
			res := r.mustOK(req(l.get, key, l.tokenField, l.token))
			if got := string(res.raw); !strings.Contains(got, `"tags":{}`) {
				t.Errorf("no tags: want \"tags\":{}, got %s", got)
			}
			check("none", map[string][]string{})
			save("env", "prod")
			check("one", map[string][]string{"env": {"prod"}})
			save("env", "staging")
			check("append", map[string][]string{"env": {"prod", "staging"}})
			save("env", "prod")
			check("repeated save keeps one", map[string][]string{"env": {"prod", "staging"}})
			save("team", "core")
			save("  spaced  ", "  value  ")
			check("trimmed", map[string][]string{"env": {"prod", "staging"}, "team": {"core"}, "spaced": {"value"}})
			remove("env", "prod")
			check("remove one value", map[string][]string{"env": {"staging"}, "team": {"core"}, "spaced": {"value"}})
			remove("env", "staging")
			check("key goes with its last value", map[string][]string{"team": {"core"}, "spaced": {"value"}})
			r.mustErr(api.CodeTagNotFound, req(l.remove, key, l.tokenField, l.token, "tagKey", "env", "tagValue", "staging"))
			remove("spaced", "value")
			// Values are case-sensitive and distinct.
			save("team", "Core")
			check("case", map[string][]string{"team": {"core", "Core"}})

			// The organization-wide read lists everything, untagged too.
			all := tagsByName(t, r.mustOK(req(l.orgRead, key, "orgToken", org)), l.orgListKey)
			if l.name == "product" {
				want := map[string]map[string][]string{"Alpha": {"team": {"core", "Core"}}, "Bare": {}}
				if diff := cmp.Diff(want, all); diff != "" {
					t.Errorf("org read (-want +got):\n%s", diff)
				}
			} else {
				want := map[string]map[string][]string{"alpha-api": {"team": {"core", "Core"}}, "alpha-web": {}}
				if diff := cmp.Diff(want, all); diff != "" {
					t.Errorf("org read (-want +got):\n%s", diff)
				}
				byProduct := tagsByName(t, r.mustOK(req(l.productRead, key, "productToken", product)), l.prodList)
				if diff := cmp.Diff(want, byProduct); diff != "" {
					t.Errorf("product read (-want +got):\n%s", diff)
				}
			}
		})
	}
	// A product's tags are not its projects' and the other way round.
	if got := tagsOf(t, r.mustOK(req("getProductTags", key, "productToken", bare)), "productTags"); len(got) != 0 {
		t.Errorf("untagged product has tags %v", got)
	}
	if n := r.count("product_tags", ""); n != 2 {
		t.Errorf("product_tags rows = %d, want 2", n)
	}
	if n := r.count("project_tags", ""); n != 2 {
		t.Errorf("project_tags rows = %d, want 2", n)
	}
}

// TestDeleteProductCascade: deleting a product removes its projects, their
// tags, inventories, edges, source files and requests, its own tags and its
// product roles, and the libraries no other project uses; nothing of other
// products is touched and nothing is left orphaned.
func TestDeleteProductCascade(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	doomed := r.CreateProduct("Doomed")
	kept := r.CreateProduct("Kept")
	d1 := r.CreateProject(doomed, "d1")
	d2 := r.CreateProject(doomed, "d2")
	k1 := r.CreateProject(kept, "k1")
	r.mustOK(req("saveProductTag", key, "productToken", doomed, "tagKey", "k", "tagValue", "v"))
	r.mustOK(req("saveProductTag", key, "productToken", kept, "tagKey", "k", "tagValue", "v"))
	r.mustOK(req("saveProjectTag", key, "projectToken", d1, "tagKey", "k", "tagValue", "v"))
	r.mustOK(req("saveProjectTag", key, "projectToken", k1, "tagKey", "k", "tagValue", "v"))
	shared := lib{uuid: "aaaaaaaa-0000-4000-8000-000000000001", name: "shared", artifact: "shared", root: true,
		children: []string{"aaaaaaaa-0000-4000-8000-000000000002"}}
	only := lib{uuid: "aaaaaaaa-0000-4000-8000-000000000002", name: "only-doomed", artifact: "only-doomed"}
	ids := r.seedInventory(org, d1, []lib{shared, only})
	r.seedSourceFile(d1, ids[only.uuid], "abc", "a.c", "src/a.c")
	// d2 and k1 use the same shared library (one row, as libraries are
	// global to an organization).
	for _, p := range []string{d2, k1} {
		r.exec(`INSERT INTO project_libraries (project_id, library_id, is_root) VALUES ($1, $2, TRUE)`, r.idOf("projects", p), ids[shared.uuid])
	}
	r.seedRequest(org, doomed, d1, "req-doomed", "FINISHED", recentMillis)
	r.seedRequest(org, kept, k1, "req-kept", "FINISHED", recentMillis)
	member := r.CreateUser("member@a.example", "product-member", doomed)
	keptBefore := r.mustOK(req("getProductProjectTags", key, "productToken", kept)).raw

	res := r.mustOK(req("deleteProduct", key, "productToken", doomed, "orgToken", org))
	if res.m["message"] != "Successfully deleted product Doomed" {
		t.Errorf("message = %v", res.m["message"])
	}
	for _, c := range []struct {
		table, where string
		want         int
	}{
		{"products", "", 1},
		{"projects", "", 1},
		{"product_tags", "", 1},
		{"project_tags", "", 1},
		{"project_libraries", "", 1},
		{"library_edges", "", 0},
		{"source_files", "", 0},
		{"plugin_requests", "", 1},
		{"libraries", "", 1}, // shared stays (k1 uses it), only-doomed goes
		{"libraries", "key_uuid = '" + only.uuid + "'", 0},
		{"user_roles", "product_id IS NOT NULL", 0},
		// Nothing points at rows that are gone.
		{"projects", "product_id NOT IN (SELECT id FROM products)", 0},
		{"product_tags", "product_id NOT IN (SELECT id FROM products)", 0},
		{"project_tags", "project_id NOT IN (SELECT id FROM projects)", 0},
		{"project_libraries", "project_id NOT IN (SELECT id FROM projects) OR library_id NOT IN (SELECT id FROM libraries)", 0},
		{"plugin_requests", "product_id NOT IN (SELECT id FROM products) OR project_id NOT IN (SELECT id FROM projects)", 0},
		{"libraries", "id NOT IN (SELECT library_id FROM project_libraries)", 0},
	} {
		if n := r.count(c.table, c.where); n != c.want {
			t.Errorf("%s where %q: %d rows, want %d", c.table, c.where, n, c.want)
		}
	}
	// The deleted tokens are gone from the API; the other product is as it was.
	r.mustErr(api.CodeInvalidProductToken, req("getProductTags", key, "productToken", doomed))
	r.mustErr(api.CodeInvalidProjectToken, req("getProjectTags", key, "projectToken", d1))
	if got := r.mustOK(req("getProductProjectTags", key, "productToken", kept)).raw; string(got) != string(keptBefore) {
		t.Errorf("the kept product changed:\n%s\nwas\n%s", got, keptBefore)
	}
	if got := r.mustOK(req("getRequestState", key, "orgToken", org, "requestToken", "req-doomed")).m["requestState"]; got != "UNKNOWN" {
		t.Errorf("request of a deleted product: %v, want UNKNOWN", got)
	}
	// The member of the deleted product keeps their key but reaches nothing.
	r.mustErr(api.CodeNotAllowed, req("getProductTags", member, "productToken", kept))
}

// TestDeleteProject removes one project with what is under it and keeps the
// rest of its product.
func TestDeleteProject(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	p := r.CreateProduct("Alpha")
	gone := r.CreateProject(p, "gone")
	stays := r.CreateProject(p, "stays")
	r.mustOK(req("saveProjectTag", key, "projectToken", gone, "tagKey", "k", "tagValue", "v"))
	r.seedInventory(org, gone, []lib{{uuid: "bbbbbbbb-0000-4000-8000-000000000001", name: "x", artifact: "x", root: true}})
	res := r.mustOK(req("deleteProject", key, "productToken", p, "projectToken", gone))
	if res.m["message"] != "Successfully deleted project gone" {
		t.Errorf("message = %v", res.m["message"])
	}
	for table, want := range map[string]int{"projects": 1, "project_tags": 0, "project_libraries": 0, "libraries": 0} {
		if n := r.count(table, ""); n != want {
			t.Errorf("%s: %d rows, want %d", table, n, want)
		}
	}
	all := r.mustOK(req("getAllProjects", key, "productToken", p)).m["projects"].([]any)
	if len(all) != 1 || all[0].(map[string]any)["projectToken"] != stays {
		t.Errorf("projects left: %v", all)
	}
	// Deleting again: the token is unknown now.
	r.mustErr(api.CodeInvalidProjectToken, req("deleteProject", key, "projectToken", gone))
}

// TestGetRequestState: UNKNOWN for an unknown request token or organization
// token (the spec's rule), the state and a GMT timestamp otherwise, to org
// users and to product users of the request's product only.
func TestGetRequestState(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	p := r.CreateProduct("Alpha")
	q := r.CreateProduct("Beta")
	pj := r.CreateProject(p, "a")
	qj := r.CreateProject(q, "b")
	states := []string{"IN_PROGRESS", "UPDATED", "FINISHED", "FAILED", "SKIPPED"}
	for i, s := range states {
		r.seedRequest(org, p, pj, "req-"+s, s, recentMillis+int64(i)*1000)
	}
	r.seedRequest(org, q, qj, "req-beta", "FINISHED", recentMillis)
	for i, s := range states {
		res := r.mustOK(req("getRequestState", key, "orgToken", org, "requestToken", "req-"+s))
		want := map[string]any{"requestState": s, "timestamp": time.UnixMilli(recentMillis + int64(i)*1000).UTC().Format("2006-01-02T15:04:05Z")}
		if diff := cmp.Diff(want, res.m); diff != "" {
			t.Errorf("%s (-want +got):\n%s", s, diff)
		}
	}
	unknown := map[string]any{"requestState": "UNKNOWN"}
	for name, body := range map[string]map[string]any{
		"unknown request token":        req("getRequestState", key, "orgToken", org, "requestToken", "nope"),
		"unknown org token":            req("getRequestState", key, "orgToken", "nope", "requestToken", "req-FINISHED"),
		"a product token as org token": req("getRequestState", key, "orgToken", p, "requestToken", "req-FINISHED"),
	} {
		if diff := cmp.Diff(unknown, r.mustOK(body).m); diff != "" {
			t.Errorf("%s (-want +got):\n%s", name, diff)
		}
	}
	// Another organization's request is not found from this one, and its
	// organization token is not this user's to use.
	orgB := r.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")
	keyB, orgTokenB := orgB["userKey"].(string), orgB["orgToken"].(string)
	if diff := cmp.Diff(unknown, r.mustOK(req("getRequestState", keyB, "orgToken", orgTokenB, "requestToken", "req-FINISHED")).m); diff != "" {
		t.Errorf("another org's request token: (-want +got):\n%s", diff)
	}
	r.mustErr(api.CodeNotAllowed, req("getRequestState", keyB, "orgToken", org, "requestToken", "req-FINISHED"))
	// A product administrator sees the requests of their product only.
	padmin := r.CreateUser("pa@a.example", "product-admin", p)
	if got := r.mustOK(req("getRequestState", padmin, "orgToken", org, "requestToken", "req-FAILED")).m["requestState"]; got != "FAILED" {
		t.Errorf("product admin, own product: %v", got)
	}
	r.mustErr(api.CodeNotAllowed, req("getRequestState", padmin, "orgToken", org, "requestToken", "req-beta"))
}

// TestProjectVitalsAndState: a new project's state and vitals.
func TestProjectVitalsAndState(t *testing.T) {
	r := newRig(t)
	key := r.Admin.UserKey
	p := r.CreateProduct("Alpha")
	pj := r.CreateProject(p, "a")
	st := r.mustOK(req("getProjectState", key, "projectToken", pj)).m["projectState"].(map[string]any)
	if st["lastProcess"] != "SETUP" || st["inProgress"] != false {
		t.Errorf("new project state: %v", st)
	}
	v := r.mustOK(req("getProjectVitals", key, "projectToken", pj)).m["projectVitals"].([]any)
	if len(v) != 1 || v[0].(map[string]any)["productName"] != "Alpha" || v[0].(map[string]any)["name"] != "a" {
		t.Errorf("vitals: %v", v)
	}
	d := r.mustOK(req("getOrganizationDetails", key, "orgToken", r.Admin.OrgToken)).m
	if d["numberOfProducts"] != 1.0 || d["numberOfProjects"] != 1.0 || d["numberOfUsers"] != 1.0 {
		t.Errorf("details: %v", d)
	}
}

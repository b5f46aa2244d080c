package api_test

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/tallyhq/tally/internal/api"
)

// The role matrix (issue 2, point 7): every request type, called by every
// role, on the caller's own product, on another product of the caller's
// organization, and on a product of another organization. Allowed calls
// succeed; denied ones answer 5001 and change nothing in the database.

// kind is what a request type needs, which decides who may call it.
type kind int

const (
	orgRead      kind = iota // organization-wide read: org-admin, org-readonly
	orgWrite                 // organization-wide change: org-admin
	productRead              // read inside a product: org roles, any role on that product
	productWrite             // change inside a product: org-admin, product-admin of that product
)

// where is the target of a call relative to the caller.
type where int

const (
	ownProduct   where = iota // the product the caller's product role is on
	otherProduct              // another product of the caller's organization
	otherOrg                  // a product of another organization
)

func (w where) String() string { return [...]string{"own-product", "other-product", "other-org"}[w] }

// allowed is the rule of issue 2 point 7, written independently of
// internal/auth so the test checks it rather than restating it.
func allowed(k kind, role string, w where) bool {
	if w == otherOrg {
		return false
	}
	switch k {
	case orgRead:
		return role == "org-admin" || role == "org-readonly"
	case orgWrite:
		return role == "org-admin"
	case productRead:
		return role == "org-admin" || role == "org-readonly" || w == ownProduct
	case productWrite:
		return role == "org-admin" || (role == "product-admin" && w == ownProduct)
	}
	return false
}

// target is one product with a project, a library in it and a plugin request
// of it, in an organization whose administrator prepares what calls need.
type target struct {
	orgToken, adminKey    string
	productToken          string
	projectToken, keyUUID string
	requestToken          string
}

type matrix struct {
	*rig
	n int
}

func (m *matrix) unique(prefix string) string {
	m.n++
	return fmt.Sprintf("%s %d", prefix, m.n)
}

// as prepares something in the target's organization as its administrator.
func (m *matrix) as(tg target, body map[string]any) result {
	m.t.Helper()
	body["userKey"] = tg.adminKey
	return m.mustOK(body)
}

type rtCase struct {
	requestType string
	kind        kind
	// build returns the call's fields (without userKey), preparing what the
	// call acts on.
	build func(m *matrix, tg target) map[string]any
}

func fields(kv ...string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

var rtCases = []rtCase{
	// Organization-wide.
	{"createProduct", orgWrite, func(m *matrix, tg target) map[string]any {
		return fields("orgToken", tg.orgToken, "productName", m.unique("new product"))
	}},
	{"deleteProduct", orgWrite, func(m *matrix, tg target) map[string]any {
		res := m.as(tg, fields("requestType", "createProduct", "orgToken", tg.orgToken, "productName", m.unique("doomed product")))
		return fields("orgToken", tg.orgToken, "productToken", res.m["productToken"].(string))
	}},
	{"getAllProducts", orgRead, orgFields},
	{"getOrganizationDetails", orgRead, orgFields},
	{"getOrganizationProductTags", orgRead, orgFields},
	{"getOrganizationProjectTags", orgRead, orgFields},
	{"getOrganizationProductVitals", orgRead, orgFields},
	{"getOrganizationProjectVitals", orgRead, orgFields},
	{"getProjectSetupNotificationConfig", orgRead, orgFields},
	{"setProjectSetupNotificationConfig", orgWrite, func(m *matrix, tg target) map[string]any {
		return fields("orgToken", tg.orgToken, "action", "CUSTOM", "projectTagKeyRegex", "^env$", "projectTagValueRegex", m.unique("^prod")+"$")
	}},
	// Inside a product.
	{"getProductTags", productRead, productFields},
	{"getAllProjects", productRead, productFields},
	{"getProductProjectTags", productRead, productFields},
	{"getProductProjectVitals", productRead, productFields},
	{"saveProductTag", productWrite, func(m *matrix, tg target) map[string]any {
		return fields("productToken", tg.productToken, "tagKey", "k", "tagValue", m.unique("v"))
	}},
	{"removeProductTag", productWrite, func(m *matrix, tg target) map[string]any {
		v := m.unique("v")
		m.as(tg, fields("requestType", "saveProductTag", "productToken", tg.productToken, "tagKey", "k", "tagValue", v))
		return fields("productToken", tg.productToken, "tagKey", "k", "tagValue", v)
	}},
	{"createProject", productWrite, func(m *matrix, tg target) map[string]any {
		return fields("productToken", tg.productToken, "projectName", m.unique("new project"))
	}},
	{"deleteProject", productWrite, func(m *matrix, tg target) map[string]any {
		res := m.as(tg, fields("requestType", "createProject", "productToken", tg.productToken, "projectName", m.unique("doomed project")))
		return fields("productToken", tg.productToken, "projectToken", res.m["projectToken"].(string))
	}},
	// Inside a project (of the product).
	{"getProjectTags", productRead, projectFields},
	{"getProjectHierarchy", productRead, projectFields},
	{"getProjectInventory", productRead, projectFields},
	{"getProjectState", productRead, projectFields},
	{"getProjectVitals", productRead, projectFields},
	{"getLibrarySourceFiles", productRead, libraryFields},
	{"getProjectLibraryDependencies", productRead, libraryFields},
	{"saveProjectTag", productWrite, func(m *matrix, tg target) map[string]any {
		return fields("projectToken", tg.projectToken, "tagKey", "k", "tagValue", m.unique("v"))
	}},
	{"removeProjectTag", productWrite, func(m *matrix, tg target) map[string]any {
		v := m.unique("v")
		m.as(tg, fields("requestType", "saveProjectTag", "projectToken", tg.projectToken, "tagKey", "k", "tagValue", v))
		return fields("projectToken", tg.projectToken, "tagKey", "k", "tagValue", v)
	}},
	// A plugin request of the product: its readers may see its state.
	{"getRequestState", productRead, func(m *matrix, tg target) map[string]any {
		return fields("orgToken", tg.orgToken, "requestToken", tg.requestToken)
	}},
}

func orgFields(_ *matrix, tg target) map[string]any { return fields("orgToken", tg.orgToken) }
func productFields(_ *matrix, tg target) map[string]any {
	return fields("productToken", tg.productToken)
}
func projectFields(_ *matrix, tg target) map[string]any {
	return fields("projectToken", tg.projectToken)
}
func libraryFields(_ *matrix, tg target) map[string]any {
	return fields("projectToken", tg.projectToken, "keyUuid", tg.keyUUID)
}

// TestRoleMatrixCoversEveryRequestType keeps the matrix complete as request
// types are added.
func TestRoleMatrixCoversEveryRequestType(t *testing.T) {
	var inMatrix []string
	for _, c := range rtCases {
		inMatrix = append(inMatrix, c.requestType)
	}
	all := api.New(nil, nil).RequestTypes()
	sort.Strings(all)
	sort.Strings(inMatrix)
	if !slices.Equal(all, inMatrix) {
		t.Fatalf("role matrix covers %v,\nthe API answers %v", inMatrix, all)
	}
}

// newTarget creates a product, a project with one library and a plugin
// request in an organization.
func newTarget(r *rig, orgToken, adminKey, name string, reqState string) target {
	r.t.Helper()
	tg := target{orgToken: orgToken, adminKey: adminKey}
	res := r.mustOK(req("createProduct", adminKey, "orgToken", orgToken, "productName", name))
	tg.productToken = res.m["productToken"].(string)
	res = r.mustOK(req("createProject", adminKey, "productToken", tg.productToken, "projectName", name+" project"))
	tg.projectToken = res.m["projectToken"].(string)
	r.mustOK(req("saveProductTag", adminKey, "productToken", tg.productToken, "tagKey", "team", "tagValue", name))
	r.mustOK(req("saveProjectTag", adminKey, "projectToken", tg.projectToken, "tagKey", "team", "tagValue", name))
	tg.keyUUID = fmt.Sprintf("00000000-0000-4000-8000-%012d", len(name)*1000+int(name[len(name)-1]))
	r.seedInventory(orgToken, tg.projectToken, []lib{
		{uuid: tg.keyUUID, name: "lib-" + name, artifact: "lib-" + name, version: "1.0", typ: "MAVEN_ARTIFACT", root: true},
	})
	tg.requestToken = "request-of-" + tg.productToken[:12]
	r.seedRequest(orgToken, tg.productToken, tg.projectToken, tg.requestToken, reqState, recentMillis)
	return tg
}

func TestRoleMatrix(t *testing.T) {
	r := newRig(t)
	m := &matrix{rig: r}
	adminA := r.Admin.UserKey
	own := newTarget(r, r.Admin.OrgToken, adminA, "Product One", "FINISHED")
	other := newTarget(r, r.Admin.OrgToken, adminA, "Product Two", "FAILED")

	orgB := r.AdminJSON("create-org", "--name", "Other Org", "--admin-email", "admin@other.example")
	foreign := newTarget(r, orgB["orgToken"].(string), orgB["userKey"].(string), "Foreign Product", "IN_PROGRESS")

	users := map[string]string{
		"org-admin":          r.CreateUser("oa@a.example", "org-admin", ""),
		"org-readonly":       r.CreateUser("ro@a.example", "org-readonly", ""),
		"product-admin":      r.CreateUser("pa@a.example", "product-admin", own.productToken),
		"product-member":     r.CreateUser("pm@a.example", "product-member", own.productToken),
		"product-integrator": r.CreateUser("pi@a.example", "product-integrator", own.productToken),
	}
	roles := []string{"org-admin", "org-readonly", "product-admin", "product-member", "product-integrator"}
	targets := map[where]target{ownProduct: own, otherProduct: other, otherOrg: foreign}

	allowedN, deniedN := 0, 0
	for _, c := range rtCases {
		for _, role := range roles {
			for _, w := range []where{ownProduct, otherProduct, otherOrg} {
				name := fmt.Sprintf("%s/%s/%s", c.requestType, role, w)
				body := c.build(m, targets[w])
				body["requestType"] = c.requestType
				body["userKey"] = users[role]
				before := r.dump()
				res := r.do(body)
				if allowed(c.kind, role, w) {
					allowedN++
					if res.code() != 0 {
						t.Errorf("%s: want allowed, got %s", name, res.raw)
						continue
					}
					checkSuccessBody(t, res.raw)
					continue
				}
				deniedN++
				if res.code() != api.CodeNotAllowed || res.msg() != "User is not allowed to perform this action" {
					t.Errorf("%s: want 5001 \"User is not allowed to perform this action\", got %s", name, res.raw)
				}
				if after := r.dump(); after != before {
					t.Errorf("%s: a denied call changed the database", name)
				}
			}
		}
	}
	t.Logf("role matrix: %d request types x %d roles x 3 targets: %d allowed, %d denied", len(rtCases), len(roles), allowedN, deniedN)

	// The other organization's administrator is a stranger to this one too.
	keyB := orgB["userKey"].(string)
	for _, c := range rtCases {
		body := c.build(m, own)
		body["requestType"] = c.requestType
		body["userKey"] = keyB
		before := r.dump()
		res := r.do(body)
		if res.code() != api.CodeNotAllowed {
			t.Errorf("%s by the other org's admin on this org: want 5001, got %s", c.requestType, res.raw)
		}
		if r.dump() != before {
			t.Errorf("%s by the other org's admin: changed the database", c.requestType)
		}
	}
}

// TestRoleGrantsAccumulate: a user with roles on two products may act on
// both (tally admin grant), and a product role gives nothing org-wide.
func TestRoleGrantsAccumulate(t *testing.T) {
	r := newRig(t)
	p1 := r.CreateProduct("One")
	p2 := r.CreateProduct("Two")
	key := r.CreateUser("two@a.example", "product-admin", p1)
	r.AdminJSON("grant", "--org-token", r.Admin.OrgToken, "--email", "two@a.example", "--role", "product-member", "--product-token", p2)
	r.mustOK(req("saveProductTag", key, "productToken", p1, "tagKey", "k", "tagValue", "v"))
	r.mustOK(req("getProductTags", key, "productToken", p2))
	r.mustErr(api.CodeNotAllowed, req("saveProductTag", key, "productToken", p2, "tagKey", "k", "tagValue", "v"))
	r.mustErr(api.CodeNotAllowed, req("getAllProducts", key, "orgToken", r.Admin.OrgToken))
}

// TestRoleCheckedBeforeFields: a caller without the role gets 5001 whatever
// else is wrong with the request's own fields (docs/errors.md, order of
// checks), so a denied caller learns nothing from field errors.
func TestRoleCheckedBeforeFields(t *testing.T) {
	r := newRig(t)
	p := r.CreateProduct("Alpha")
	q := r.CreateProduct("Beta")
	pj := r.CreateProject(p, "api")
	member := r.CreateUser("pm@a.example", "product-member", p)
	for name, body := range map[string]map[string]any{
		"createProject without a name":          req("createProject", member, "productToken", p),
		"deleteProject with another product":    req("deleteProject", member, "projectToken", pj, "productToken", q),
		"saveProductTag with a reserved key":    req("saveProductTag", member, "productToken", p, "tagKey", "errorCode", "tagValue", "v"),
		"removeProjectTag of a missing pair":    req("removeProjectTag", member, "projectToken", pj, "tagKey", "k", "tagValue", "v"),
		"createProduct with a taken name":       req("createProduct", member, "orgToken", r.Admin.OrgToken, "productName", "Alpha"),
		"setProjectSetupNotificationConfig bad": req("setProjectSetupNotificationConfig", member, "orgToken", r.Admin.OrgToken, "action", "NEVER"),
	} {
		if res := r.do(body); res.code() != api.CodeNotAllowed {
			t.Errorf("%s: want 5001, got %s", name, res.raw)
		}
	}
}

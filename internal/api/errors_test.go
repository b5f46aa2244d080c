package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/api"
)

// TestErrors replays malformed and invalid requests. Each must answer HTTP
// 200 with exactly {"errorCode","errorMessage"} of the documented code
// (docs/errors.md), and change nothing in the database.
func TestErrors(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	product := r.CreateProduct("Alpha")
	project := r.CreateProject(product, "Alpha API")
	otherProduct := r.CreateProduct("Beta")
	otherProject := r.CreateProject(otherProduct, "Beta API")
	r.seedInventory(org, project, []lib{{uuid: "11111111-1111-4111-8111-111111111111", name: "a", artifact: "a", root: true}})
	r.seedInventory(org, otherProject, []lib{{uuid: "22222222-2222-4222-8222-222222222222", name: "b", artifact: "b", root: true}})
	unknownKey := strings.Repeat("ab", 32)

	cases := []struct {
		name string
		body any // map, or raw string/[]byte
		code int
		msg  string // substring of errorMessage; "" to skip
	}{
		// The body itself.
		{"malformed JSON", `{"requestType": "getAllProducts",`, api.CodeMalformedBody, "JSON object"},
		{"empty body", ``, api.CodeMalformedBody, ""},
		{"array body", `[{"requestType":"getAllProducts"}]`, api.CodeMalformedBody, ""},
		{"string body", `"getAllProducts"`, api.CodeMalformedBody, ""},
		{"number body", `42`, api.CodeMalformedBody, ""},
		{"null body", `null`, api.CodeMalformedBody, ""},
		{"trailing garbage", `{"requestType":"getAllProducts"} x`, api.CodeMalformedBody, ""},
		// Missing fields: 3010, naming the field.
		{"no requestType", fields("userKey", key, "orgToken", org), api.CodeMissingFields, "requestType"},
		{"empty requestType", fields("requestType", "", "userKey", key), api.CodeMissingFields, "requestType"},
		{"no userKey", fields("requestType", "getAllProducts", "orgToken", org), api.CodeMissingFields, "userKey"},
		{"null userKey", map[string]any{"requestType": "getAllProducts", "userKey": nil, "orgToken": org}, api.CodeMissingFields, "userKey"},
		{"no orgToken", req("getAllProducts", key), api.CodeMissingFields, "orgToken"},
		{"no productToken", req("getProductTags", key), api.CodeMissingFields, "productToken"},
		{"no projectToken", req("getProjectTags", key), api.CodeMissingFields, "projectToken"},
		{"no productName", req("createProduct", key, "orgToken", org), api.CodeMissingFields, "productName"},
		{"blank productName", req("createProduct", key, "orgToken", org, "productName", "   "), api.CodeMissingFields, "productName"},
		{"no projectName", req("createProject", key, "productToken", product), api.CodeMissingFields, "projectName"},
		{"no tagValue", req("saveProductTag", key, "productToken", product, "tagKey", "k"), api.CodeMissingFields, "tagValue"},
		{"no keyUuid", req("getLibrarySourceFiles", key, "projectToken", project), api.CodeMissingFields, "keyUuid"},
		{"no requestToken", req("getRequestState", key, "orgToken", org), api.CodeMissingFields, "requestToken"},
		{"no action", req("setProjectSetupNotificationConfig", key, "orgToken", org), api.CodeMissingFields, "action"},
		{"custom without regex", req("setProjectSetupNotificationConfig", key, "orgToken", org, "action", "CUSTOM", "projectTagKeyRegex", "x"), api.CodeMissingFields, "projectTagValueRegex"},
		// Wrong types and unusable values: 3000.
		{"requestType a number", map[string]any{"requestType": 7, "userKey": key}, api.CodeInvalidParameters, "requestType"},
		{"userKey a number", map[string]any{"requestType": "getAllProducts", "userKey": 7, "orgToken": org}, api.CodeInvalidParameters, "userKey"},
		{"orgToken an object", map[string]any{"requestType": "getAllProducts", "userKey": key, "orgToken": map[string]any{}}, api.CodeInvalidParameters, "orgToken"},
		{"productName a number", map[string]any{"requestType": "createProduct", "userKey": key, "orgToken": org, "productName": 42}, api.CodeInvalidParameters, "productName"},
		{"tagValue a list", map[string]any{"requestType": "saveProductTag", "userKey": key, "productToken": product, "tagKey": "k", "tagValue": []string{"v"}}, api.CodeInvalidParameters, "tagValue"},
		{"includeInHouseData not a boolean", map[string]any{"requestType": "getProjectHierarchy", "userKey": key, "projectToken": project, "includeInHouseData": "maybe"}, api.CodeInvalidParameters, "includeInHouseData"},
		{"projectDescription a number", map[string]any{"requestType": "createProject", "userKey": key, "productToken": product, "projectName": "x", "projectDescription": 1}, api.CodeInvalidParameters, "projectDescription"},
		{"productName too long", req("createProduct", key, "orgToken", org, "productName", strings.Repeat("n", 256)), api.CodeInvalidParameters, "productName"},
		{"productName with a newline", req("createProduct", key, "orgToken", org, "productName", "a\nb"), api.CodeInvalidParameters, "productName"},
		{"tagValue too long", req("saveProductTag", key, "productToken", product, "tagKey", "k", "tagValue", strings.Repeat("v", 1025)), api.CodeInvalidParameters, "tagValue"},
		{"tagKey reserved", req("saveProductTag", key, "productToken", product, "tagKey", "errorCode", "tagValue", "v"), api.CodeInvalidParameters, "tagKey"},
		{"project tagKey reserved", req("saveProjectTag", key, "projectToken", project, "tagKey", "my errorMessage", "tagValue", "v"), api.CodeInvalidParameters, "tagKey"},
		{"bad action", req("setProjectSetupNotificationConfig", key, "orgToken", org, "action", "SOMETIMES"), api.CodeInvalidParameters, "action"},
		{"bad regex", req("setProjectSetupNotificationConfig", key, "orgToken", org, "action", "CUSTOM", "projectTagKeyRegex", "([a-z", "projectTagValueRegex", ".*"), api.CodeInvalidParameters, "projectTagKeyRegex"},
		{"regex too long", req("setProjectSetupNotificationConfig", key, "orgToken", org, "action", "CUSTOM", "projectTagKeyRegex", "a", "projectTagValueRegex", strings.Repeat("a", 1025)), api.CodeInvalidParameters, "projectTagValueRegex"},
		{"deleteProject with another product's token", req("deleteProject", key, "productToken", otherProduct, "projectToken", project), api.CodeInvalidParameters, "not in product"},
		// Unknown request type.
		{"unknown requestType", req("getEverything", key), api.CodeUnknownRequestType, "getEverything"},
		{"requestType of another case", req("getallproducts", key, "orgToken", org), api.CodeUnknownRequestType, ""},
		// Credentials.
		{"userKey too short", req("getAllProducts", "abc", "orgToken", org), api.CodeInvalidUserKey, "Invalid user key"},
		{"userKey too long", req("getAllProducts", key+"0", "orgToken", org), api.CodeInvalidUserKey, "Invalid user key"},
		{"userKey unknown", req("getAllProducts", unknownKey, "orgToken", org), api.CodeInvalidUserKey, "Invalid user key"},
		{"orgToken unknown", req("getAllProducts", key, "orgToken", unknownKey), api.CodeInvalidOrgToken, "Invalid organization token"},
		{"productToken unknown", req("getProductTags", key, "productToken", unknownKey), api.CodeInvalidProductToken, "Invalid product token"},
		{"projectToken unknown", req("getProjectTags", key, "projectToken", "00000000-0000-4000-8000-000000000000"), api.CodeInvalidProjectToken, "Invalid project token"},
		// A token of the wrong kind is an error, never an empty success.
		{"project token as productToken", req("getProductTags", key, "productToken", project), api.CodeInvalidProductToken, ""},
		{"project token as productToken (getAllProjects)", req("getAllProjects", key, "productToken", project), api.CodeInvalidProductToken, ""},
		{"project token as productToken (vitals)", req("getProductProjectVitals", key, "productToken", project), api.CodeInvalidProductToken, ""},
		{"product token as projectToken", req("getProjectTags", key, "projectToken", product), api.CodeInvalidProjectToken, ""},
		{"product token as projectToken (vitals)", req("getProjectVitals", key, "projectToken", product), api.CodeInvalidProjectToken, ""},
		{"org token as projectToken", req("getProjectInventory", key, "projectToken", org), api.CodeInvalidProjectToken, ""},
		{"org token as productToken", req("getAllProjects", key, "productToken", org), api.CodeInvalidProductToken, ""},
		{"product token as orgToken", req("getAllProducts", key, "orgToken", product), api.CodeInvalidOrgToken, ""},
		{"project token as orgToken", req("getOrganizationProjectTags", key, "orgToken", project), api.CodeInvalidOrgToken, ""},
		{"user key as orgToken", req("getOrganizationDetails", key, "orgToken", key), api.CodeInvalidOrgToken, ""},
		{"product token as projectToken on a write", req("saveProjectTag", key, "projectToken", product, "tagKey", "k", "tagValue", "v"), api.CodeInvalidProjectToken, ""},
		// Libraries.
		{"keyUuid unknown", req("getLibrarySourceFiles", key, "projectToken", project, "keyUuid", "99999999-9999-4999-8999-999999999999"), api.CodeInvalidKeyUUID, "Invalid key UUID"},
		{"keyUuid of another project", req("getProjectLibraryDependencies", key, "projectToken", project, "keyUuid", "22222222-2222-4222-8222-222222222222"), api.CodeInvalidKeyUUID, ""},
		// Removing what is not there.
		{"remove a missing product tag", req("removeProductTag", key, "productToken", product, "tagKey", "k", "tagValue", "v"), api.CodeTagNotFound, "Alpha"},
		{"remove a missing project tag", req("removeProjectTag", key, "projectToken", project, "tagKey", "k", "tagValue", "v"), api.CodeTagNotFound, "Alpha API"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := r.dump()
			res := r.do(c.body)
			checkErrorBody(t, res.raw, c.code)
			if c.msg != "" && !strings.Contains(res.msg(), c.msg) {
				t.Errorf("errorMessage %q does not mention %q", res.msg(), c.msg)
			}
			if r.dump() != before {
				t.Errorf("a failed request changed the database")
			}
		})
	}
}

// TestBodyLimit: a body over api.MaxBodyBytes is refused whole, nothing
// written; one of exactly the limit is answered.
func TestBodyLimit(t *testing.T) {
	r := newRig(t)
	body := func(n int) []byte {
		b, _ := json.Marshal(map[string]any{"requestType": "createProduct", "userKey": r.Admin.UserKey, "orgToken": r.Admin.OrgToken,
			"productName": "padded", "pad": ""})
		pad := n - len(b)
		return bytes.Replace(b, []byte(`"pad":""`), []byte(`"pad":"`+strings.Repeat("x", pad)+`"`), 1)
	}
	before := r.dump()
	over := body(api.MaxBodyBytes + 1)
	if len(over) != api.MaxBodyBytes+1 {
		t.Fatalf("built a body of %d bytes", len(over))
	}
	res := r.do(over)
	checkErrorBody(t, res.raw, api.CodeBodyTooLarge)
	if r.dump() != before {
		t.Errorf("an oversized request changed the database")
	}
	at := body(api.MaxBodyBytes)
	if len(at) != api.MaxBodyBytes {
		t.Fatalf("built a body of %d bytes", len(at))
	}
	r.mustOK(at)
	if n := r.count("products", "name = 'padded'"); n != 1 {
		t.Errorf("body of exactly the limit: %d products named padded, want 1", n)
	}
}

// TestExtraKeysIgnored: what clients add beside a call's fields does not
// change its answer (protocol-notes.md §1).
func TestExtraKeysIgnored(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	product := r.CreateProduct("Alpha")
	project := r.CreateProject(product, "Alpha API")
	agentInfo := map[string]any{"agent": "fs-agent", "agentVersion": "2.3.9", "extra": []any{1, "two"}}
	base := req("getProjectTags", key, "projectToken", project)
	want := r.mustOK(base)

	withExtras := req("getProjectTags", key, "projectToken", project, "orgToken", org, "productToken", product)
	withExtras["agentInfo"] = agentInfo
	withExtras["timeStamp"] = 1700000000000
	if got := r.mustOK(withExtras); !bytes.Equal(got.raw, want.raw) {
		t.Errorf("extra keys changed the answer:\n%s\nwant\n%s", got.raw, want.raw)
	}
	// A redundant orgToken next to a project or product token is not used
	// (here, another organization's); the call's own token decides.
	orgB := r.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")
	redundant := req("getProjectTags", key, "projectToken", project, "orgToken", orgB["orgToken"].(string))
	if got := r.mustOK(redundant); !bytes.Equal(got.raw, want.raw) {
		t.Errorf("a redundant orgToken changed the answer:\n%s", got.raw)
	}
	created := req("createProject", key, "productToken", product, "projectName", "With agentInfo", "orgToken", org)
	created["agentInfo"] = agentInfo
	r.mustOK(created)
	// deleteProject with both tokens, as the spec sends it.
	r.mustOK(req("deleteProject", key, "productToken", product, "projectToken", project, "orgToken", org))

	// Content types other than JSON are parsed as JSON all the same.
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		b, _ := json.Marshal(req("getAllProducts", key, "orgToken", org))
		status, raw := r.Post("/api/v1.3", ct, b)
		if status != http.StatusOK || bytes.Contains(raw, []byte("errorCode")) {
			t.Errorf("Content-Type %q: status %d: %s", ct, status, raw)
		}
	}
}

// TestDuplicateNames: product names are unique in an organization (2001),
// project names in a product (2010); the same names elsewhere are fine.
func TestDuplicateNames(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	p := r.CreateProduct("Alpha")
	r.CreateProject(p, "api")

	before := r.dump()
	res := r.mustErr(api.CodeProductNameTaken, req("createProduct", key, "orgToken", org, "productName", "Alpha"))
	if !strings.Contains(res.msg(), "Alpha") {
		t.Errorf("2001 message %q does not name the product", res.msg())
	}
	// Names are trimmed before they are stored and compared.
	r.mustErr(api.CodeProductNameTaken, req("createProduct", key, "orgToken", org, "productName", "  Alpha "))
	res = r.mustErr(api.CodeProjectNameTaken, req("createProject", key, "productToken", p, "projectName", "api"))
	if !strings.Contains(res.msg(), "api") || !strings.Contains(res.msg(), "Alpha") {
		t.Errorf("2010 message %q does not name the project and product", res.msg())
	}
	if r.dump() != before {
		t.Errorf("a refused duplicate changed the database")
	}
	// Names differ by case: both exist.
	r.mustOK(req("createProduct", key, "orgToken", org, "productName", "alpha"))
	// The same project name in another product, the same product name in
	// another organization.
	q := r.CreateProduct("Beta")
	r.CreateProject(q, "api")
	orgB := r.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")
	r.mustOK(req("createProduct", orgB["userKey"].(string), "orgToken", orgB["orgToken"].(string), "productName", "Alpha"))
	// A deleted name is free again.
	r.mustOK(req("deleteProduct", key, "productToken", p))
	r.mustOK(req("createProduct", key, "orgToken", org, "productName", "Alpha"))
}

// TestInactiveOrg: every call of a deactivated organization's users answers
// 2015 and changes nothing; reactivated, it works again.
func TestInactiveOrg(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	p := r.CreateProduct("Alpha")
	ctx := context.Background()
	orgID := r.idOf("orgs", org)
	if err := r.st.SetOrgActive(ctx, orgID, false); err != nil {
		t.Fatal(err)
	}
	before := r.dump()
	for _, body := range []map[string]any{
		req("getAllProducts", key, "orgToken", org),
		req("createProduct", key, "orgToken", org, "productName", "New"),
		req("saveProductTag", key, "productToken", p, "tagKey", "k", "tagValue", "v"),
		req("deleteProduct", key, "productToken", p),
	} {
		res := r.mustErr(api.CodeInactiveOrg, body)
		if !strings.Contains(res.msg(), "inactive") {
			t.Errorf("2015 message: %q", res.msg())
		}
	}
	if r.dump() != before {
		t.Errorf("calls of an inactive organization changed the database")
	}
	if err := r.st.SetOrgActive(ctx, orgID, true); err != nil {
		t.Fatal(err)
	}
	r.mustOK(req("getAllProducts", key, "orgToken", org))
}

// TestSuccessBodiesNeverLookLikeErrors stores names, a description and tag
// values containing "errorCode" and "errorMessage" and reads them back
// through every call that echoes them: the raw bodies must not contain the
// text "errorCode" nor an "errorMessage" key, and the decoded strings must be
// exactly what was stored (internal/api/json.go escapes one letter).
func TestSuccessBodiesNeverLookLikeErrors(t *testing.T) {
	r := newRig(t)
	key, org := r.Admin.UserKey, r.Admin.OrgToken
	productName := `errorCode 5001 "errorMessage": x`
	projectName := `{"errorCode":1,"errorMessage":"boom"}`
	tagValue := "errorCode"
	tagValue2 := `"errorMessage"`
	res := r.mustOK(req("createProduct", key, "orgToken", org, "productName", productName))
	product := res.m["productToken"].(string)
	if res.m["message"] != "Successfully created product "+productName {
		t.Errorf("message decoded as %q", res.m["message"])
	}
	res = r.mustOK(req("createProject", key, "productToken", product, "projectName", projectName, "projectDescription", "errorCode errorMessage"))
	project := res.m["projectToken"].(string)
	res = r.mustOK(req("saveProductTag", key, "productToken", product, "tagKey", "status", "tagValue", tagValue))
	if got := res.m["productTagsInfo"].(map[string]any)["tags"].(map[string]any)["status"]; got != tagValue {
		t.Errorf("saved tag value decoded as %v", got)
	}
	r.mustOK(req("saveProductTag", key, "productToken", product, "tagKey", "status", "tagValue", tagValue2))
	r.mustOK(req("saveProjectTag", key, "projectToken", project, "tagKey", "errors", "tagValue", tagValue2))
	ids := r.seedInventory(org, project, []lib{{uuid: "33333333-3333-4333-8333-333333333333", name: "errorCode-lib", artifact: "errorMessage", filename: "errorCode.jar", root: true}})
	r.seedSourceFile(project, ids["33333333-3333-4333-8333-333333333333"], "abc", "errorCode.c", "src/errorMessage/errorCode.c")

	for _, body := range []map[string]any{
		req("getProductTags", key, "productToken", product),
		req("getOrganizationProductTags", key, "orgToken", org),
		req("getOrganizationProjectTags", key, "orgToken", org),
		req("getProductProjectTags", key, "productToken", product),
		req("getProjectTags", key, "projectToken", project),
		req("getAllProducts", key, "orgToken", org),
		req("getAllProjects", key, "productToken", product),
		req("getOrganizationProductVitals", key, "orgToken", org),
		req("getOrganizationProjectVitals", key, "orgToken", org),
		req("getProductProjectVitals", key, "productToken", product),
		req("getProjectVitals", key, "projectToken", project),
		req("getProjectHierarchy", key, "projectToken", project),
		req("getProjectInventory", key, "projectToken", project),
		req("getLibrarySourceFiles", key, "projectToken", project, "keyUuid", "33333333-3333-4333-8333-333333333333"),
	} {
		res := r.mustOK(body) // checks the raw body
		if !strings.Contains(res.raw2text(), "error") {
			t.Errorf("%s: the stored text is not in the answer: %s", body["requestType"], res.raw)
		}
	}
	// The decoded values are the stored ones.
	res = r.mustOK(req("getProductTags", key, "productToken", product))
	pt := res.m["productTags"].([]any)[0].(map[string]any)
	if pt["name"] != productName {
		t.Errorf("product name decoded as %q, want %q", pt["name"], productName)
	}
	vals := pt["tags"].(map[string]any)["status"].([]any)
	if len(vals) != 2 || vals[0] != tagValue || vals[1] != tagValue2 {
		t.Errorf("tag values decoded as %v", vals)
	}
	res = r.mustOK(req("getAllProjects", key, "productToken", product))
	if got := res.m["projects"].([]any)[0].(map[string]any)["projectName"]; got != projectName {
		t.Errorf("project name decoded as %q, want %q", got, projectName)
	}
	// Error bodies, by contrast, carry both keys verbatim.
	bad := r.do(req("getProductTags", key, "productToken", "nope"))
	if !bytes.Contains(bad.raw, []byte(`"errorCode":`)) || !bytes.Contains(bad.raw, []byte(`"errorMessage":`)) {
		t.Errorf("error body: %s", bad.raw)
	}
}

// raw2text is the body with JSON escapes decoded, for looking for stored text.
func (res result) raw2text() string {
	var v any
	_ = json.Unmarshal(res.raw, &v)
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPaths: the five API paths answer alike, errors included; other
// methods and paths are not the API.
func TestPaths(t *testing.T) {
	r := newRig(t)
	bad := req("getAllProducts", r.Admin.UserKey, "orgToken", "nope")
	good := req("getOrganizationDetails", r.Admin.UserKey, "orgToken", r.Admin.OrgToken)
	var first [2][]byte
	for i, path := range apiPaths {
		e := r.doAt(path, bad)
		checkErrorBody(t, e.raw, api.CodeInvalidOrgToken)
		ok := r.doAt(path, good)
		checkSuccessBody(t, ok.raw)
		if i == 0 {
			first = [2][]byte{e.raw, ok.raw}
			continue
		}
		if !bytes.Equal(e.raw, first[0]) || !bytes.Equal(ok.raw, first[1]) {
			t.Errorf("%s answers differently from /api:\n%s\n%s", path, e.raw, ok.raw)
		}
	}
	resp, err := http.Get(r.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /api: status %d, want 405", resp.StatusCode)
	}
	b, _ := json.Marshal(good)
	if status, _ := r.Post("/api/v2", "application/json", b); status != http.StatusNotFound {
		t.Errorf("POST /api/v2: status %d, want 404", status)
	}
}

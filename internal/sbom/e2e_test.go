package sbom_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/internal/cli"
	"github.com/tallyhq/tally/internal/sbom"
	"github.com/tallyhq/tally/internal/tallytest"
)

// upload runs `tally upload ARGS` in-process against s with env as its
// environment and returns stdout, stderr and the error.
func upload(s *tallytest.Server, env map[string]string, args ...string) (string, string, error) {
	var out, errb bytes.Buffer
	getenv := func(k string) string { return env[k] }
	err := cli.Run(context.Background(), append([]string{"upload"}, args...), getenv, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

func adminFlags(s *tallytest.Server) []string {
	return []string{"--url", s.URL, "--org-token", s.Admin.OrgToken, "--user-key", s.Admin.UserKey}
}

// uploadAndWait uploads a file with --wait --json and returns the answer.
func uploadAndWait(t *testing.T, s *tallytest.Server, file string, args ...string) map[string]any {
	t.Helper()
	full := append(adminFlags(s), "--wait", "--poll-interval", "20ms", "--json")
	full = append(append(full, args...), filepath.Join("testdata", file))
	out, stderr, err := upload(s, nil, full...)
	if err != nil {
		t.Fatalf("tally upload %s: %v\nstderr: %s\nserver: %s", file, err, stderr, s.Logs())
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("upload --json output is not JSON: %v\n%s", err, out)
	}
	if res["requestState"] != "FINISHED" {
		t.Fatalf("request ended %v", res["requestState"])
	}
	return res
}

func projectToken(t *testing.T, res map[string]any, project string) string {
	t.Helper()
	details, _ := res["projectNamesToDetails"].(map[string]any)
	d, ok := details[project].(map[string]any)
	if !ok {
		t.Fatalf("no project %q in %v", project, res["projectNamesToDetails"])
	}
	return d["projectToken"].(string)
}

type lib struct {
	KeyUUID      string                  `json:"keyUuid"`
	Name         string                  `json:"name"`
	Filename     string                  `json:"filename"`
	GroupID      string                  `json:"groupId"`
	ArtifactID   string                  `json:"artifactId"`
	Version      string                  `json:"version"`
	Sha1         string                  `json:"sha1"`
	Type         string                  `json:"type"`
	Licenses     []struct{ Name string } `json:"licenses"`
	Dependencies []lib                   `json:"dependencies"`
}

func (l lib) licenseNames() []string {
	var out []string
	for _, x := range l.Licenses {
		out = append(out, x.Name)
	}
	return out
}

func call[T any](t *testing.T, s *tallytest.Server, req map[string]any) T {
	t.Helper()
	req["userKey"] = s.Admin.UserKey
	b := s.CallRaw(req)
	if bytes.Contains(b, []byte("errorCode")) {
		t.Fatalf("%v: %s", req["requestType"], b)
	}
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %v\n%s", req["requestType"], err, b)
	}
	return v
}

// edgesOf lists a hierarchy's roots ("> name") and edges ("parent > child")
// by artifactId@version, sorted: what the tree says, however the server
// chooses to lay out libraries that appear at several places.
func edgesOf(libs []lib) []string {
	seen := map[string]bool{}
	var walk func(parent string, ls []lib)
	walk = func(parent string, ls []lib) {
		for _, l := range ls {
			n := l.ArtifactID + "@" + l.Version
			seen[parent+"> "+n] = true
			walk(n+" ", l.Dependencies)
		}
	}
	walk("", libs)
	out := make([]string, 0, len(seen))
	for e := range seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// shape renders a hierarchy as "artifactId@version" lines indented by depth.
func shape(libs []lib, indent string, b *strings.Builder) {
	for _, l := range libs {
		fmt.Fprintf(b, "%s%s@%s\n", indent, l.ArtifactID, l.Version)
		shape(l.Dependencies, indent+"  ", b)
	}
}

func byArtifact(libs []lib) map[string]lib {
	m := map[string]lib{}
	for _, l := range libs {
		m[l.ArtifactID] = l
	}
	return m
}

func TestUploadCycloneDX(t *testing.T) {
	s := tallytest.Start(t)
	res := uploadAndWait(t, s, "shop-backend.cdx.json", "--product", "Shop", "--project", "backend")
	token := projectToken(t, res, "backend")
	if created, _ := res["createdProjects"].([]any); !slices.Contains(created, any("backend")) {
		t.Errorf("createdProjects = %v", res["createdProjects"])
	}
	summary := res["sbom"].(map[string]any)
	if summary["format"] != "CycloneDX" || summary["specVersion"] != "1.5" || summary["components"] != float64(15) || summary["edges"] != float64(7) {
		t.Errorf("sbom summary = %v", summary)
	}

	state := call[map[string]any](t, s, map[string]any{"requestType": "getRequestState", "orgToken": s.Admin.OrgToken, "requestToken": res["requestToken"]})
	if state["requestState"] != "FINISHED" {
		t.Errorf("getRequestState = %v", state)
	}

	inv := call[struct {
		ProjectVitals struct{ Name, ProductName string }
		Libraries     []lib
	}](t, s, map[string]any{"requestType": "getProjectInventory", "projectToken": token})
	if inv.ProjectVitals.Name != "backend" || inv.ProjectVitals.ProductName != "Shop" {
		t.Errorf("vitals = %+v", inv.ProjectVitals)
	}
	libs := byArtifact(inv.Libraries)
	// 15 components, one of them (util.c) a source file of its library.
	if len(inv.Libraries) != 14 {
		t.Errorf("inventory has %d libraries, want 14: %v", len(inv.Libraries), inv.Libraries)
	}
	core := libs["spring-core"]
	if core.GroupID != "org.springframework" || core.Version != "6.1.2" || core.Sha1 != "071027b3698d27bbb143bb056c08c53b82014345" ||
		core.Filename != "spring-core-6.1.2.jar" || !slices.Equal(core.licenseNames(), []string{"Apache-2.0"}) {
		t.Errorf("spring-core = %+v", core)
	}
	if l := libs["requests"]; !slices.Equal(l.licenseNames(), []string{"Apache-2.0 OR MIT"}) || l.Version != "2.31.0" {
		t.Errorf("requests = %+v", l)
	}
	if l := libs["lodash"]; !slices.Equal(l.licenseNames(), []string{"Lodash License"}) || l.Sha1 != "901466a5bb52ee6de63e3e385285e690d5cba424" {
		t.Errorf("lodash = %+v", l)
	}
	if l := libs["core"]; l.GroupID != "@babel" || l.Version != "7.23.0" {
		t.Errorf("@babel/core = %+v", l)
	}
	if l := libs["mux"]; l.GroupID != "github.com/gorilla" || l.Sha1 != "6e427ef89a021f457ba81539817d3b99f8fd9daf" {
		t.Errorf("mux = %+v", l)
	}
	if _, ok := libs["util.c"]; ok {
		t.Error("util.c is listed as a library")
	}

	hier := call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectHierarchy", "projectToken": token})
	// The SBOM's graph: roots are the subject's dependencies and the
	// component nothing depends on; the edge closing requests → urllib3 →
	// requests is dropped, the unresolved ghost left out.
	want := []string{
		"> Newtonsoft.Json@13.0.3", "> core@7.23.0", "> lodash@4.17.21", "> mux@v1.8.0", "> orphan-lib@1.0", "> rails@7.1.2",
		"> requests@2.31.0", "> serde@1.0.193", "> spring-core@6.1.2", "> vendor-bundle@1.0",
		"core@7.23.0 > debug@4.3.4", "core@7.23.0 > lodash@4.17.21", "debug@4.3.4 > ms@2.1.2", "lodash@4.17.21 > ms@2.1.2",
		"requests@2.31.0 > urllib3@2.1.0", "spring-core@6.1.2 > spring-jcl@6.1.2",
	}
	if diff := cmp.Diff(want, edgesOf(hier.Libraries)); diff != "" {
		t.Errorf("hierarchy roots and edges (-want +got):\n%s", diff)
	}
	var b strings.Builder
	deps := call[struct{ Dependencies [][]lib }](t, s, map[string]any{"requestType": "getProjectLibraryDependencies", "projectToken": token, "keyUuid": libs["core"].KeyUUID})
	if len(deps.Dependencies) != 1 {
		t.Fatalf("dependencies = %+v", deps)
	}
	b.Reset()
	shape(deps.Dependencies[0], "", &b)
	if diff := cmp.Diff(sortedLines("lodash@4.17.21\n  ms@2.1.2\ndebug@4.3.4\n  ms@2.1.2\n"), sortedLines(b.String())); diff != "" {
		t.Errorf("@babel/core dependencies (-want +got):\n%s", diff)
	}

	files := call[struct {
		SourceFiles []struct{ Sha1, Name, Path string }
	}](t, s, map[string]any{"requestType": "getLibrarySourceFiles", "projectToken": token, "keyUuid": libs["vendor-bundle"].KeyUUID})
	if len(files.SourceFiles) != 1 || files.SourceFiles[0].Name != "util.c" || files.SourceFiles[0].Sha1 != "3c2c1abeab22b82140db9dc45d6a16a8a58b9080" {
		t.Errorf("vendor-bundle source files = %+v", files.SourceFiles)
	}
}

// sortedLines compares trees independently of sibling order.
func sortedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	sort.Strings(lines)
	return lines
}

func TestUploadSPDXWithEnvironment(t *testing.T) {
	s := tallytest.Start(t)
	env := map[string]string{"TALLY_URL": s.URL, "TALLY_ORG_TOKEN": s.Admin.OrgToken, "TALLY_USER_KEY": s.Admin.UserKey}
	// No --project: the described package names the project. Flags after
	// the file name are read too.
	out, stderr, err := upload(s, env, filepath.Join("testdata", "inventory-service.spdx.json"), "--product", "Warehouse", "--wait", "--poll-interval", "20ms")
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr)
	}
	reqToken := strings.TrimSpace(out)
	if strings.Contains(reqToken, "\n") || reqToken == "" {
		t.Fatalf("stdout is not one request token: %q", out)
	}
	if !strings.Contains(stderr, "FINISHED") || !strings.Contains(stderr, `project "inventory-service"`) || strings.Contains(stderr, "\r") {
		t.Errorf("stderr = %q", stderr)
	}
	prods := call[struct {
		Products []struct{ ProductName, ProductToken string }
	}](t, s, map[string]any{"requestType": "getAllProducts", "orgToken": s.Admin.OrgToken})
	var productToken string
	for _, p := range prods.Products {
		if p.ProductName == "Warehouse" {
			productToken = p.ProductToken
		}
	}
	projs := call[struct {
		Projects []struct{ ProjectName, ProjectToken string }
	}](t, s, map[string]any{"requestType": "getAllProjects", "productToken": productToken})
	if len(projs.Projects) != 1 || projs.Projects[0].ProjectName != "inventory-service" {
		t.Fatalf("projects = %+v", projs.Projects)
	}
	token := projs.Projects[0].ProjectToken

	hier := call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectHierarchy", "projectToken": token})
	// DEPENDENCY_OF reversed, the DEV_DEPENDENCY_OF jest a root, the edge
	// closing express → body-parser → express dropped, files not libraries.
	want := []string{"> express@4.18.2", "> guava@32.1.3-jre", "> jest@29.7.0", "> zlib@1.3",
		"express@4.18.2 > body-parser@1.20.1", "guava@32.1.3-jre > failureaccess@1.0.1"}
	if diff := cmp.Diff(want, edgesOf(hier.Libraries)); diff != "" {
		t.Errorf("hierarchy roots and edges (-want +got):\n%s", diff)
	}
	libs := byArtifact(hier.Libraries)
	guava := libs["guava"]
	if guava.GroupID != "com.google.guava" || guava.Sha1 != "7b8b8f8b6d4f2a0e5c6f3c0a3b1d9e8f7a6b5c4d" || !slices.Equal(guava.licenseNames(), []string{"Apache-2.0"}) {
		t.Errorf("guava = %+v", guava)
	}
	if fa := guava.Dependencies[0]; !slices.Equal(fa.licenseNames(), []string{"Apache-2.0"}) || fa.Sha1 != "1dcf1de382a0bf95a3d8b0849546c88bac1292c9" {
		t.Errorf("failureaccess = %+v", fa)
	}
	files := call[struct {
		SourceFiles []struct{ Sha1, Name, Path string }
	}](t, s, map[string]any{"requestType": "getLibrarySourceFiles", "projectToken": token, "keyUuid": libs["zlib"].KeyUUID})
	got := []string{}
	for _, f := range files.SourceFiles {
		got = append(got, f.Name+" "+f.Path+" "+f.Sha1)
	}
	sort.Strings(got)
	want = []string{"deflate.c zlib-1.3/deflate.c e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5e5", "inflate.c zlib-1.3/inflate.c c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("zlib source files (-want +got):\n%s", diff)
	}
	state := call[map[string]any](t, s, map[string]any{"requestType": "getRequestState", "orgToken": s.Admin.OrgToken, "requestToken": reqToken})
	if state["requestState"] != "FINISHED" {
		t.Errorf("getRequestState = %v", state)
	}
}

// post sends a raw upload and decodes the answer.
func post(t *testing.T, s *tallytest.Server, query string, headers map[string]string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+sbom.Path+"?"+query, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /sbom: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("answer is not JSON (status %d): %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, m
}

func errorCode(m map[string]any) string {
	e, _ := m["error"].(map[string]any)
	c, _ := e["code"].(string)
	return c
}

func TestBadUploads(t *testing.T) {
	s := tallytest.Start(t, tallytest.WithEnv(map[string]string{"TALLY_SBOM_MAX_BYTES": "64KiB"}))
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// A project with an inventory that no refused upload may touch.
	first := uploadAndWait(t, s, "shop-backend.cdx.json", "--product", "Shop", "--project", "backend")
	token := projectToken(t, first, "backend")
	inventory := func() []byte {
		return s.CallRaw(map[string]any{"requestType": "getProjectHierarchy", "userKey": s.Admin.UserKey, "projectToken": token})
	}
	before := inventory()
	products := func() []byte {
		return s.CallRaw(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	}
	productsBefore := products()

	big := bytes.Repeat([]byte(" "), 70<<10)
	copy(big, `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}`)
	for _, tc := range []struct {
		name, file, want string
		args             []string
	}{
		{"not JSON", write("bom.txt", []byte("lodash 4.17.21\n")), "HTTP 422, invalid_sbom): the document is not valid JSON", nil},
		{"XML", write("bom.xml", []byte(`<?xml version="1.0"?><bom xmlns="http://cyclonedx.org/schema/bom/1.5"/>`)), "HTTP 422, unsupported_format): XML documents", nil},
		{"wrong format", write("package.json", []byte(`{"name":"app","dependencies":{"lodash":"^4"}}`)), "HTTP 422, unsupported_format", nil},
		{"SPDX 3", write("spdx3.json", []byte(`{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}`)), "SPDX 3", nil},
		{"truncated", write("cut.json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"name":`)), "invalid_sbom", nil},
		{"oversized", write("big.json", big), "HTTP 413, too_large): the document is 71680 bytes; the limit is 65536", nil},
		{"oversized from stdin", "-", "HTTP 413, too_large): the document is larger than the limit of 65536 bytes", nil},
		{"override of an existing project", write("garbage.json", []byte(`{"bomFormat":"CycloneDX","specVersion":"1.5","components":{}}`)), "malformed CycloneDX document", []string{"--project", "backend"}},
		{"bad update type", filepath.Join("testdata", "shop-backend.cdx.json"), "HTTP 400, invalid_request): Illegal arguments", []string{"--update-type", "SIDEWAYS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(adminFlags(s), "--product", "Refused "+tc.name)
			args = append(append(args, tc.args...), tc.file)
			var out, errb bytes.Buffer
			stdin := io.Reader(strings.NewReader(""))
			if tc.file == "-" {
				stdin = io.MultiReader(bytes.NewReader(big)) // of unknown length
			}
			err := cli.Run(context.Background(), append([]string{"upload"}, args...), func(string) string { return "" }, stdin, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if out.Len() != 0 {
				t.Errorf("stdout = %q", out.String())
			}
		})
	}
	// A gzip body is limited after decoding: a small bomb is refused.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(big)
	zw.Write(bytes.Repeat([]byte(" "), 8<<20))
	zw.Close()
	status, m := post(t, s, "product=Shop&project=backend", map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken,
		sbom.HeaderUserKey: s.Admin.UserKey, "Content-Encoding": "gzip"}, &bomb)
	if status != http.StatusRequestEntityTooLarge || errorCode(m) != sbom.CodeTooLarge {
		t.Errorf("gzip bomb (%d bytes): %d %v", bomb.Len(), status, m)
	}
	if diff := cmp.Diff(string(before), string(inventory())); diff != "" {
		t.Errorf("refused uploads changed the project:\n%s", diff)
	}
	if diff := cmp.Diff(string(productsBefore), string(products())); diff != "" {
		t.Errorf("refused uploads created products:\n%s", diff)
	}
}

func TestEndpointErrors(t *testing.T) {
	s := tallytest.Start(t)
	doc, err := os.ReadFile(filepath.Join("testdata", "shop-backend.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	admin := map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken, sbom.HeaderUserKey: s.Admin.UserKey}
	productToken := s.CreateProduct("Locked")
	reader := s.CreateUser("reader@example.com", "product-member", productToken)
	integrator := s.CreateUser("ci@example.com", "product-integrator", productToken)
	for _, tc := range []struct {
		name    string
		query   string
		headers map[string]string
		status  int
		code    string
	}{
		{"no credentials", "product=Locked", nil, 400, "invalid_request"},
		{"no product", "", admin, 400, "invalid_request"},
		{"bad org token", "product=Locked", map[string]string{sbom.HeaderOrgToken: "nope", sbom.HeaderUserKey: s.Admin.UserKey}, 401, "invalid_credentials"},
		{"bad user key", "product=Locked", map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken, sbom.HeaderUserKey: strings.Repeat("a", 64)}, 401, "invalid_credentials"},
		{"member may not upload", "product=Locked", map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken, sbom.HeaderUserKey: reader}, 403, "not_allowed"},
		{"integrator may not create products", "product=Elsewhere", map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken, sbom.HeaderUserKey: integrator}, 403, "not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, m := post(t, s, tc.query, tc.headers, bytes.NewReader(doc))
			if status != tc.status || errorCode(m) != tc.code {
				t.Errorf("status %d %v, want %d %s", status, m, tc.status, tc.code)
			}
		})
	}

	// An integrator of the product may upload into it; a gzip body is read.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(doc)
	zw.Close()
	h := map[string]string{sbom.HeaderOrgToken: s.Admin.OrgToken, sbom.HeaderUserKey: integrator, "Content-Encoding": "gzip"}
	status, m := post(t, s, "product=Locked&project=gz", h, &gz)
	if status != 200 || m["requestToken"] == "" || m["project"] != "gz" {
		t.Fatalf("gzip upload: %d %v", status, m)
	}
	// Without a project name the subject's name is used.
	status, m = post(t, s, "product=Locked", admin, bytes.NewReader(doc))
	if status != 200 || m["project"] != "shop-backend" {
		t.Fatalf("upload without project: %d %v", status, m)
	}
	// No project and no subject to name it after.
	status, m = post(t, s, "product=Locked", admin, strings.NewReader(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","version":"1"}]}`))
	if status != 400 || errorCode(m) != "invalid_request" || !strings.Contains(fmt.Sprint(m), "missing query parameter project") {
		t.Errorf("upload without any project name: %d %v", status, m)
	}
	// What the pipeline refuses in the converted inventory is a 422.
	long := strings.Repeat("x", 5000)
	status, m = post(t, s, "product=Locked&project=long", admin, strings.NewReader(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"`+long+`","version":"1"}]}`))
	if status != 422 || errorCode(m) != "invalid_inventory" || !strings.Contains(fmt.Sprint(m), "Invalid diff") {
		t.Errorf("upload with a 5000-byte name: %d %v", status, m)
	}
	// A GET is not an upload.
	resp, err := http.Get(s.URL + sbom.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /sbom: %d", resp.StatusCode)
	}
}

// TestUploadLarge uploads a generated SBOM of 10,000 components (3 MB) with a
// progress bar and checks every library and edge arrived.
func TestUploadLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("large upload")
	}
	s := tallytest.Start(t)
	const n = 10_000
	data, all := sbom.GenerateBOM(t, n, 30, 0, 11)
	file := filepath.Join(t.TempDir(), "large.cdx.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, stderr, err := upload(s, nil, append(adminFlags(s), "--product", "Big", "--project", "large", "--progress", "always",
		"--wait", "--poll-interval", "50ms", "--json", file)...)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr)
	}
	if want := "] 100%"; !strings.Contains(stderr, want) || !strings.Contains(stderr, "\r[") {
		t.Errorf("no progress bar reaching 100%% on stderr: %q", stderr[:min(len(stderr), 300)])
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res["requestState"] != "FINISHED" {
		t.Fatalf("request ended %v", res["requestState"])
	}
	token := projectToken(t, res, "large")
	inv := call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectInventory", "projectToken": token})
	if len(inv.Libraries) != n {
		t.Errorf("inventory has %d libraries, want %d", len(inv.Libraries), n)
	}
	hier := call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectHierarchy", "projectToken": token})
	edges := 0
	for _, e := range edgesOf(hier.Libraries) {
		if !strings.HasPrefix(e, "> ") {
			edges++
		}
	}
	if edges != len(all) {
		t.Errorf("hierarchy has %d edges, the SBOM %d", edges, len(all))
	}
}

// TestRefusedBeforeBody: bad credentials are answered before the body is
// read, and the client still gets the answer for a large file.
func TestRefusedBeforeBody(t *testing.T) {
	s := tallytest.Start(t)
	data, _ := sbom.GenerateBOM(t, 8_000, 30, 0, 3)
	file := filepath.Join(t.TempDir(), "large.cdx.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := upload(s, nil, "--url", s.URL, "--org-token", s.Admin.OrgToken, "--user-key", strings.Repeat("0", 64), "--product", "P", file)
	if err == nil || !strings.Contains(err.Error(), "HTTP 401, invalid_credentials): Invalid User Key") {
		t.Errorf("err = %v", err)
	}
}

// TestSoftRun: SOFT_RUN checks the SBOM and stores nothing; --wait does not
// wait for a request that was never queued.
func TestSoftRun(t *testing.T) {
	s := tallytest.Start(t)
	products := func() []byte {
		return s.CallRaw(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	}
	before := products()
	out, stderr, err := upload(s, nil, append(adminFlags(s), "--product", "Trial", "--project", "dry", "--update-type", "SOFT_RUN",
		"--wait", "--wait-timeout", "1m", filepath.Join("testdata", "inventory-service.spdx.json"))...)
	if err != nil {
		t.Fatalf("upload: %v\n%s", err, stderr)
	}
	if strings.TrimSpace(out) == "" || !strings.Contains(stderr, "SOFT_RUN") {
		t.Errorf("stdout %q, stderr %q", out, stderr)
	}
	if diff := cmp.Diff(string(before), string(products())); diff != "" {
		t.Errorf("SOFT_RUN created a product:\n%s", diff)
	}
}

// TestUpdateTypes: the SBOM replaces the project's inventory by default,
// and APPEND adds to it, as agent updates do.
func TestUpdateTypes(t *testing.T) {
	s := tallytest.Start(t)
	res := uploadAndWait(t, s, "shop-backend.cdx.json", "--product", "Shop", "--project", "p")
	token := projectToken(t, res, "p")
	count := func() int {
		inv := call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectInventory", "projectToken": token})
		return len(inv.Libraries)
	}
	if n := count(); n != 14 {
		t.Fatalf("after the CycloneDX upload: %d libraries, want 14", n)
	}
	uploadAndWait(t, s, "inventory-service.spdx.json", "--product", "Shop", "--project", "p", "--update-type", "APPEND")
	if n := count(); n != 14+6 {
		t.Errorf("after APPEND of the SPDX document: %d libraries, want 20", n)
	}
	uploadAndWait(t, s, "inventory-service.spdx.json", "--product", "Shop", "--project-token", token, "--gzip")
	if n := count(); n != 6 {
		t.Errorf("after OVERRIDE with the SPDX document (gzip-compressed): %d libraries, want 6", n)
	}
}

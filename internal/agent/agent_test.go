package agent_test

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/tallytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// The Base64-of-gzip form of testdata/maven.json, as a Java agent sends
// it, is a golden file: rewritten with -update, checked otherwise.
func TestGzipDiffGolden(t *testing.T) {
	plain := readTestdata(t, "maven.json")
	path := filepath.Join("testdata", "maven.json.b64gz")
	if *update {
		if err := os.WriteFile(path, []byte(gzipBase64(t, plain)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	enc := strings.TrimSpace(string(readTestdata(t, "maven.json.b64gz")))
	if !strings.HasPrefix(enc, "H4sI") {
		t.Fatalf("golden diff does not start like a gzip stream: %.10s", enc)
	}
	got, err := agent.DecodeDiff(enc, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(plain) {
		t.Fatalf("golden Base64-of-gzip diff does not decode to testdata/maven.json (run with -update)")
	}
}

type lib struct {
	KeyUUID    string `json:"keyUuid"`
	KeyID      int64  `json:"keyId"`
	Filename   string `json:"filename"`
	Name       string `json:"name"`
	GroupID    string `json:"groupId"`
	ArtifactID string `json:"artifactId"`
	Version    string `json:"version"`
	Sha1       string `json:"sha1"`
	Type       string `json:"type"`
	Coords     string `json:"coordinates"`
	Licenses   []struct {
		Name string `json:"name"`
	} `json:"licenses"`
	Vulnerabilities []any  `json:"vulnerabilities"`
	Outdated        bool   `json:"outdated"`
	MatchType       string `json:"matchType"`
	Dependencies    []lib  `json:"dependencies"`
}

func call[T any](t *testing.T, s *tallytest.Server, req map[string]any) T {
	t.Helper()
	var out T
	if err := json.Unmarshal(s.CallRaw(req), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func hierarchy(t *testing.T, s *tallytest.Server, projectToken string, inHouse bool) []lib {
	t.Helper()
	return call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectHierarchy", "userKey": s.Admin.UserKey,
		"projectToken": projectToken, "includeInHouseData": inHouse}).Libraries
}

func inventoryOf(t *testing.T, s *tallytest.Server, projectToken string) []lib {
	t.Helper()
	return call[struct{ Libraries []lib }](t, s, map[string]any{"requestType": "getProjectInventory", "userKey": s.Admin.UserKey,
		"projectToken": projectToken}).Libraries
}

// tree renders a hierarchy as "name>child,child" lines, sorted, for
// comparing structure.
func tree(libs []lib) []string {
	var out []string
	var walk func(prefix string, ls []lib)
	walk = func(prefix string, ls []lib) {
		for _, l := range ls {
			out = append(out, prefix+l.ArtifactID)
			walk(prefix+l.ArtifactID+">", l.Dependencies)
		}
	}
	walk("", libs)
	sort.Strings(out)
	return out
}

func projectToken(t *testing.T, env agent.Envelope, name string) string {
	t.Helper()
	d := data(t, env)
	details, _ := d["projectNamesToDetails"].(map[string]any)
	p, _ := details[name].(map[string]any)
	tok, _ := p["projectToken"].(string)
	if tok == "" {
		t.Fatalf("no project %s in %v", name, d)
	}
	return tok
}

// Agent requests from testdata in both encodings are stored, and the JSON
// API answers exactly what they carried.
func TestReplayBothEncodings(t *testing.T) {
	s := tallytest.Start(t)
	plain := string(readTestdata(t, "maven.json"))
	gz := strings.TrimSpace(string(readTestdata(t, "maven.json.b64gz")))
	tokens := map[string]string{}
	for enc, diff := range map[string]string{"plain": plain, "gzip": gz} {
		env := mustUpdate(t, s, "Shop-"+enc, "", diff)
		d := data(t, env)
		if d["organization"] != s.Admin.OrgName || d["requestToken"] != env.RequestToken {
			t.Errorf("%s: envelope data %v", enc, d)
		}
		if !slices.Equal(anyStrings(d["createdProjects"]), []string{"shop-service"}) || len(anyStrings(d["updatedProjects"])) != 0 {
			t.Errorf("%s: created/updated projects: %v", enc, d)
		}
		tokens[enc] = projectToken(t, env, "shop-service")
	}
	var keys []map[string]string
	for _, enc := range []string{"plain", "gzip"} {
		tok := tokens[enc]
		h := hierarchy(t, s, tok, true)
		want := []string{
			"jackson-databind", "jackson-databind>jackson-annotations", "jackson-databind>jackson-core",
			"left-pad", "shop-commons", "shop-commons>jackson-core",
			"spring-core", "spring-core>spring-jcl", "zlib",
		}
		if diff := cmp.Diff(want, tree(h)); diff != "" {
			t.Errorf("%s: hierarchy (-want +got):\n%s", enc, diff)
		}
		inv := inventoryOf(t, s, tok)
		if len(inv) != 8 {
			t.Fatalf("%s: inventory has %d libraries, want 8", enc, len(inv))
		}
		byArtifact := map[string]lib{}
		k := map[string]string{}
		for _, l := range inv {
			byArtifact[l.ArtifactID] = l
			k[l.ArtifactID] = l.KeyUUID
			if l.Vulnerabilities == nil || len(l.Vulnerabilities) != 0 || l.Outdated {
				t.Errorf("%s: %s: vulnerabilities %v outdated %v", enc, l.ArtifactID, l.Vulnerabilities, l.Outdated)
			}
		}
		keys = append(keys, k)
		sc := byArtifact["spring-core"]
		if sc.GroupID != "org.springframework" || sc.Version != "5.3.30" || sc.Sha1 != "1ed4a6f1b0f3a5f0f9d7c1e2b3a4c5d6e7f80912" ||
			sc.Type != "MAVEN_ARTIFACT" || sc.Filename != "spring-core-5.3.30.jar" || sc.Coords != "org.springframework:spring-core:5.3.30" ||
			len(sc.Licenses) != 1 || sc.Licenses[0].Name != "Apache-2.0" || sc.MatchType != "SHA1" {
			t.Errorf("%s: spring-core as stored: %+v", enc, sc)
		}
		lp := byArtifact["left-pad"]
		if lp.Version != "1.3.0" || lp.Type != "NPM_PACKAGE" || lp.MatchType != "COORDINATES" || lp.Sha1 != "" {
			t.Errorf("%s: left-pad (versionId, no sha1): %+v", enc, lp)
		}
		if z := byArtifact["zlib"]; z.Type != "UNKNOWN_ARTIFACT" || len(z.Licenses) != 1 || z.Licenses[0].Name != "Zlib" {
			t.Errorf("%s: zlib: %+v", enc, z)
		}
		// Source files: the children of zlib with a sha1 and a path but no
		// coordinates are its files, not libraries.
		files := call[struct {
			SourceFiles []struct{ Sha1, Name, Path string }
		}](t, s, map[string]any{"requestType": "getLibrarySourceFiles", "userKey": s.Admin.UserKey, "projectToken": tok, "keyUuid": k["zlib"]}).SourceFiles
		wantFiles := []struct{ Sha1, Name, Path string }{
			{"b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", "deflate.c", "/src/zlib/deflate.c"},
			{"a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", "inflate.c", "/src/zlib/inflate.c"},
		}
		if diff := cmp.Diff(wantFiles, files); diff != "" {
			t.Errorf("%s: source files (-want +got):\n%s", enc, diff)
		}
		deps := call[struct {
			Dependencies [][]struct {
				ArtifactID string `json:"artifactId"`
				Scope      string `json:"scope"`
				Extension  string `json:"extension"`
			}
		}](t, s, map[string]any{"requestType": "getProjectLibraryDependencies", "userKey": s.Admin.UserKey, "projectToken": tok, "keyUuid": k["jackson-databind"]})
		var names []string
		for _, d := range deps.Dependencies[0] {
			names = append(names, d.ArtifactID+"/"+d.Scope+"/"+d.Extension)
		}
		sort.Strings(names)
		if !slices.Equal(names, []string{"jackson-annotations/compile/jar", "jackson-core/compile/jar"}) {
			t.Errorf("%s: dependencies of jackson-databind: %v", enc, names)
		}
		tags := call[struct {
			ProjectTags []struct{ Tags map[string][]string }
		}](t, s, map[string]any{"requestType": "getProjectTags", "userKey": s.Admin.UserKey, "projectToken": tok})
		if diff := cmp.Diff(map[string][]string{"team": {"payments"}, "tier": {"1"}}, tags.ProjectTags[0].Tags); diff != "" {
			t.Errorf("%s: tags (-want +got):\n%s", enc, diff)
		}
		vit := call[struct {
			ProjectVitals []map[string]any
		}](t, s, map[string]any{"requestType": "getProjectVitals", "userKey": s.Admin.UserKey, "projectToken": tok})
		v := vit.ProjectVitals[0]
		if v["pluginName"] != "fs-agent 21.3.1" || v["uploadedBy"] != "admin@localhost" || v["lastScanComment"] != "nightly" || v["requestToken"] == "" {
			t.Errorf("%s: vitals %v", enc, v)
		}
		st := call[struct {
			ProjectState struct {
				LastProcess string
				InProgress  bool
			}
		}](t, s, map[string]any{"requestType": "getProjectState", "userKey": s.Admin.UserKey, "projectToken": tok})
		if st.ProjectState.LastProcess != "UPDATE_ALERTS" || st.ProjectState.InProgress {
			t.Errorf("%s: project state %+v", enc, st)
		}
	}
	// Libraries are global to the organization: the two projects share
	// every keyUuid.
	if diff := cmp.Diff(keys[0], keys[1]); diff != "" {
		t.Errorf("the same libraries in two projects got different keyUuids:\n%s", diff)
	}
}

func anyStrings(v any) []string {
	l, _ := v.([]any)
	out := []string{}
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// diffOf builds a one-project diff from "parent>child" specs; libraries
// are Maven artifacts whose sha1 derives from their name.
func diffOf(project string, specs ...string) string {
	type dep struct {
		GroupID        string `json:"groupId"`
		ArtifactID     string `json:"artifactId"`
		Version        string `json:"version"`
		Sha1           string `json:"sha1"`
		DependencyType string `json:"dependencyType"`
		Children       []*dep `json:"children,omitempty"`
	}
	mk := func(name string) *dep {
		sum := sha1.Sum([]byte(name))
		sha := hex.EncodeToString(sum[:])
		return &dep{GroupID: "org.test", ArtifactID: name, Version: "1.0", Sha1: sha, DependencyType: "MAVEN"}
	}
	var roots []*dep
	byName := map[string]*dep{}
	for _, s := range specs {
		parts := strings.Split(s, ">")
		var parent *dep
		for i, p := range parts {
			d := byName[strings.Join(parts[:i+1], ">")]
			if d == nil {
				d = mk(p)
				byName[strings.Join(parts[:i+1], ">")] = d
				if parent == nil {
					roots = append(roots, d)
				} else {
					parent.Children = append(parent.Children, d)
				}
			}
			parent = d
		}
	}
	b, _ := json.Marshal([]map[string]any{{"coordinates": map[string]string{"artifactId": project}, "dependencies": roots}})
	return string(b)
}

func TestUpdateModes(t *testing.T) {
	s := tallytest.Start(t)
	env := mustUpdate(t, s, "Modes", "OVERRIDE", diffOf("svc", "a>b", "c"))
	tok := projectToken(t, env, "svc")
	check := func(step string, want ...string) {
		t.Helper()
		if diff := cmp.Diff(want, tree(hierarchy(t, s, tok, true))); diff != "" {
			t.Errorf("after %s (-want +got):\n%s", step, diff)
		}
	}
	check("OVERRIDE", "a", "a>b", "c")
	// APPEND adds libraries and edges and keeps what was there.
	mustUpdate(t, s, "Modes", "APPEND", diffOf("svc", "d>b", "e"))
	check("APPEND", "a", "a>b", "c", "d", "d>b", "e")
	// REMOVE takes the listed libraries out with their edges.
	mustUpdate(t, s, "Modes", "REMOVE", diffOf("svc", "b", "e"))
	check("REMOVE", "a", "c", "d")
	// SOFT_RUN is answered and stores nothing.
	soft := postForm(t, s, updateForm(s.Admin.OrgToken, s.Admin.UserKey, "Modes", "SOFT_RUN", diffOf("svc", "x")))
	if soft.Status != agent.StatusOK || soft.RequestToken == "" {
		t.Fatalf("soft run: %+v", soft)
	}
	if st := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken,
		"requestToken": soft.RequestToken})["requestState"]; st != "UNKNOWN" {
		t.Errorf("a soft run's token is %v, want UNKNOWN (nothing stored)", st)
	}
	check("SOFT_RUN", "a", "c", "d")
	// OVERRIDE (the default) makes the inventory exactly the one sent.
	mustUpdate(t, s, "Modes", "", diffOf("svc", "c>a", "f"))
	check("OVERRIDE again", "c", "c>a", "f")
	st := call[struct {
		ProjectState struct {
			LastProcess string
			InProgress  bool
		}
	}](t, s, map[string]any{"requestType": "getProjectState", "userKey": s.Admin.UserKey, "projectToken": tok})
	if st.ProjectState.LastProcess != "UPDATE_ALERTS" || st.ProjectState.InProgress {
		t.Errorf("project state %+v", st)
	}
}

// Each project keeps its own edges: the same library can have different
// children in two projects, and keeps one keyUuid.
func TestSameLibraryTwoProjects(t *testing.T) {
	s := tallytest.Start(t)
	t1 := projectToken(t, mustUpdate(t, s, "Shared", "", diffOf("one", "a>b")), "one")
	t2 := projectToken(t, mustUpdate(t, s, "Shared", "", diffOf("two", "a>c")), "two")
	h1, h2 := hierarchy(t, s, t1, true), hierarchy(t, s, t2, true)
	if diff := cmp.Diff([]string{"a", "a>b"}, tree(h1)); diff != "" {
		t.Errorf("project one:\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a", "a>c"}, tree(h2)); diff != "" {
		t.Errorf("project two:\n%s", diff)
	}
	if h1[0].KeyUUID != h2[0].KeyUUID || h1[0].KeyID != h2[0].KeyID {
		t.Errorf("library a: keyUuid %s/%d in one, %s/%d in two", h1[0].KeyUUID, h1[0].KeyID, h2[0].KeyUUID, h2[0].KeyID)
	}
	// Overriding project one leaves project two's use of the shared
	// library alone.
	mustUpdate(t, s, "Shared", "", diffOf("one", "z"))
	h2b := hierarchy(t, s, t2, true)
	if diff := cmp.Diff([]string{"a", "a>c"}, tree(h2b)); diff != "" || h2b[0].KeyUUID != h1[0].KeyUUID {
		t.Errorf("project two after project one changed: %v %s", tree(h2b), h2b[0].KeyUUID)
	}
}

// In-house libraries (by pattern) leave the answers of
// includeInHouseData=false; their dependencies take their place.
func TestInHouseFiltering(t *testing.T) {
	s := tallytest.Start(t)
	env := mustUpdate(t, s, "Shop", "", string(readTestdata(t, "maven.json")))
	tok := projectToken(t, env, "shop-service")
	if _, err := s.RunCLI("admin", "set-inhouse", "--org-token", s.Admin.OrgToken, "--pattern", "com.example.*"); err != nil {
		t.Fatal(err)
	}
	got := tree(hierarchy(t, s, tok, false))
	if slices.Contains(got, "shop-commons") || !slices.Contains(got, "jackson-core") {
		t.Errorf("hierarchy without in-house data: %v", got)
	}
	if all := tree(hierarchy(t, s, tok, true)); !slices.Contains(all, "shop-commons") {
		t.Errorf("hierarchy with in-house data: %v", all)
	}
}

func TestPolicyChecksStoreNothing(t *testing.T) {
	s := tallytest.Start(t)
	mustUpdate(t, s, "Pol", "", diffOf("existing", "a"))
	for _, typ := range []string{"CHECK_POLICY_COMPLIANCE", "CHECK_POLICIES"} {
		form := updateForm(s.Admin.OrgToken, s.Admin.UserKey, "Pol", "", "")
		form.Set("type", typ)
		both := `[` + strings.Trim(diffOf("existing", "b"), "[]") + `,` + strings.Trim(diffOf("brand-new", "c"), "[]") + `]`
		form.Set("diff", both)
		env := postForm(t, s, form)
		if env.Status != agent.StatusOK {
			t.Fatalf("%s: %+v", typ, env)
		}
		d := data(t, env)
		existing, _ := d["existingProjects"].(map[string]any)
		newer, _ := d["newProjects"].(map[string]any)
		if existing["existing"] == nil || newer["brand-new"] == nil || d["organization"] != s.Admin.OrgName || d["projectNewResources"] == nil {
			t.Errorf("%s: data %v", typ, d)
		}
		if strings.Contains(env.Data, `"Reject"`) {
			t.Errorf("%s: a violation was reported: %s", typ, env.Data)
		}
	}
	projects := s.MustCall(map[string]any{"requestType": "getOrganizationDetails", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	if projects["numberOfProjects"] != float64(1) {
		t.Errorf("policy checks created projects: %v", projects)
	}
}

func TestRolesOnUpdate(t *testing.T) {
	s := tallytest.Start(t)
	prod := s.CreateProduct("Team")
	other := s.CreateProduct("Other")
	integrator := s.CreateUser("ci@example.com", "product-integrator", prod)
	member := s.CreateUser("dev@example.com", "product-member", prod)
	otherAdmin := s.CreateUser("boss@example.com", "product-admin", other)
	// An integrator of the product may upload (and create projects).
	env := postForm(t, s, updateForm(s.Admin.OrgToken, integrator, "Team", "", diffOf("svc", "a")))
	if env.Status != agent.StatusOK {
		t.Fatalf("integrator refused: %+v", env)
	}
	if st := waitState(t, s, env.RequestToken); st != "FINISHED" {
		t.Fatalf("integrator's update ended %s", st)
	}
	for name, tc := range map[string]struct{ key, product string }{
		"member":              {member, "Team"},
		"admin of other":      {otherAdmin, "Team"},
		"new product, no org": {integrator, "Brand New"},
	} {
		env := postForm(t, s, updateForm(s.Admin.OrgToken, tc.key, tc.product, "", diffOf("svc2", "a")))
		if env.Status != agent.StatusBadRequest || !strings.Contains(env.Data, "not allowed") {
			t.Errorf("%s: %+v", name, env)
		}
	}
	// The product may be named by its token too.
	env = postForm(t, s, updateForm(s.Admin.OrgToken, integrator, prod, "APPEND", diffOf("svc", "b")))
	if env.Status != agent.StatusOK || len(anyStrings(data(t, env)["updatedProjects"])) != 1 {
		t.Fatalf("product by token: %+v", env)
	}
	waitState(t, s, env.RequestToken)
}

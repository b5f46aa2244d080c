package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tallyhq/tally/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/")

func parseFile(t *testing.T, name string) *BOM {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	bom, err := Parse(context.Background(), data, Limits{})
	if err != nil {
		t.Fatalf("Parse %s: %v", name, err)
	}
	return bom
}

// names lists the entries of a level as "artifactId@version", with a "*"
// for entries written without their children (deduped).
func names(deps []inventory.DependencyInfo) []string {
	var out []string
	for _, d := range deps {
		n := d.ArtifactID
		if n == "" {
			n = "file:" + d.Filename
		}
		n += "@" + d.Version
		if d.Deduped {
			n += "*"
		}
		out = append(out, n)
	}
	return out
}

func find(t *testing.T, deps []inventory.DependencyInfo, path ...string) inventory.DependencyInfo {
	t.Helper()
	for i, want := range path {
		found := false
		for _, d := range deps {
			n := d.ArtifactID
			if n == "" {
				n = "file:" + d.Filename
			}
			if n == want && !d.Deduped {
				if i == len(path)-1 {
					return d
				}
				deps = d.Children
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("no %q at %v (have %v)", want, path[:i+1], names(deps))
		}
	}
	return inventory.DependencyInfo{}
}

// golden compares the converted tree with testdata/NAME.golden.json.
func golden(t *testing.T, name string, bom *BOM) {
	t.Helper()
	got, err := json.MarshalIndent(struct {
		Format, SpecVersion, Name, Version string
		Stats                              Stats
		Dependencies                       []inventory.DependencyInfo
	}{bom.Format, bom.SpecVersion, bom.Name, bom.Version, bom.Stats, bom.Dependencies}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); run go test -update if the change is right:\n%s", path, diff)
	}
}

func TestCycloneDX(t *testing.T) {
	bom := parseFile(t, "shop-backend.cdx.json")
	if bom.Format != FormatCycloneDX || bom.SpecVersion != "1.5" || bom.Name != "shop-backend" || bom.Version != "3.2.0" {
		t.Errorf("header = %s %s %s %s", bom.Format, bom.SpecVersion, bom.Name, bom.Version)
	}
	wantRoots := []string{"spring-core@6.1.2", "core@7.23.0", "lodash@4.17.21", "requests@2.31.0", "mux@v1.8.0",
		"Newtonsoft.Json@13.0.3", "rails@7.1.2", "serde@1.0.193", "vendor-bundle@1.0", "orphan-lib@1.0"}
	if diff := cmp.Diff(wantRoots, names(bom.Dependencies)); diff != "" {
		t.Errorf("roots (-want +got):\n%s", diff)
	}
	wantStats := Stats{Components: 15, Edges: 7, Roots: 10, Depth: 3, CycleEdges: 1, UnresolvedRefs: 1}
	if bom.Stats != wantStats {
		t.Errorf("stats = %+v, want %+v", bom.Stats, wantStats)
	}

	core := find(t, bom.Dependencies, "spring-core")
	if core.GroupID != "org.springframework" || core.DependencyType != "MAVEN" || core.Type != "jar" ||
		core.Filename != "spring-core-6.1.2.jar" || core.Purl != "pkg:maven/org.springframework/spring-core@6.1.2?type=jar" {
		t.Errorf("spring-core = %+v", core)
	}
	if core.Sha1 != "071027b3698d27bbb143bb056c08c53b82014345" {
		t.Errorf("spring-core sha1 = %q", core.Sha1)
	}
	wantSums := map[string]string{"SHA256": "a72402f5cb6c2ff8cc7bd4e817e894cded331a7bee543a8c7804c15d26d3f87d", "MD5": "6b586d94569869d424a7b33402b00807"}
	if diff := cmp.Diff(wantSums, core.Checksums); diff != "" {
		t.Errorf("spring-core checksums (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Apache-2.0"}, core.Licenses); diff != "" {
		t.Errorf("spring-core licenses: %s", diff)
	}
	// An upper-case SHA-1 is lower-cased.
	if jcl := find(t, bom.Dependencies, "spring-core", "spring-jcl"); jcl.Sha1 != "f3c23d1632c8d0a968c904d467e8d943e2ec2f6c" {
		t.Errorf("spring-jcl sha1 = %q", jcl.Sha1)
	}

	// npm scope from the percent-encoded namespace; the expression as sent;
	// SHA-512 into checksums; the unresolved ghost left out.
	babel := find(t, bom.Dependencies, "core")
	if babel.GroupID != "@babel" || babel.DependencyType != "NPM" || babel.Sha1 != "" || babel.Checksums["SHA512"] == "" {
		t.Errorf("@babel/core = %+v", babel)
	}
	if diff := cmp.Diff([]string{"lodash@4.17.21*", "debug@4.3.4"}, names(babel.Children)); diff != "" {
		t.Errorf("@babel/core children (-want +got):\n%s", diff)
	}
	// ms is written once with children (under the root lodash) and once
	// deduped (under debug).
	if diff := cmp.Diff([]string{"ms@2.1.2"}, names(find(t, bom.Dependencies, "lodash").Children)); diff != "" {
		t.Errorf("lodash children: %s", diff)
	}
	if diff := cmp.Diff([]string{"ms@2.1.2*"}, names(find(t, bom.Dependencies, "core", "debug").Children)); diff != "" {
		t.Errorf("debug children: %s", diff)
	}
	if l := find(t, bom.Dependencies, "lodash").Licenses; !slices.Equal(l, []string{"Lodash License"}) {
		t.Errorf("lodash licenses = %v", l)
	}

	// The cycle requests → urllib3 → requests loses its closing edge.
	req := find(t, bom.Dependencies, "requests")
	if diff := cmp.Diff([]string{"urllib3@2.1.0"}, names(req.Children)); diff != "" {
		t.Errorf("requests children: %s", diff)
	}
	if u := req.Children[0]; len(u.Children) != 0 || !u.Optional || u.DependencyType != "PYTHON" {
		t.Errorf("urllib3 = %+v", u)
	}
	if l := req.Licenses; !slices.Equal(l, []string{"Apache-2.0 OR MIT"}) {
		t.Errorf("requests licenses = %v", l)
	}

	mux := find(t, bom.Dependencies, "mux")
	if mux.GroupID != "github.com/gorilla" || mux.DependencyType != "GO" || mux.Sha1 != "6e427ef89a021f457ba81539817d3b99f8fd9daf" {
		t.Errorf("mux = %+v", mux)
	}
	for name, typ := range map[string]string{"Newtonsoft.Json": "NUGET", "rails": "RUBY", "serde": "CRATE"} {
		if d := find(t, bom.Dependencies, name); d.DependencyType != typ {
			t.Errorf("%s dependencyType = %q, want %q", name, d.DependencyType, typ)
		}
	}
	if d := find(t, bom.Dependencies, "Newtonsoft.Json"); d.Checksums["SHA3_256"] == "" {
		t.Errorf("Newtonsoft.Json checksums = %v", d.Checksums)
	}

	// A nested file with a SHA-1 is evidence under its library.
	file := find(t, bom.Dependencies, "vendor-bundle", "file:util.c")
	if file.ArtifactID != "" || file.GroupID != "" || file.Version != "" || file.Sha1 != "3c2c1abeab22b82140db9dc45d6a16a8a58b9080" {
		t.Errorf("util.c = %+v", file)
	}
	// Without a purl, the component's own group, name and version.
	orphan := find(t, bom.Dependencies, "orphan-lib")
	if orphan.GroupID != "com.example" || orphan.DependencyType != "" || orphan.Sha1 == "" {
		t.Errorf("orphan-lib = %+v", orphan)
	}
	golden(t, "shop-backend.cdx", bom)
}

func TestSPDX(t *testing.T) {
	bom := parseFile(t, "inventory-service.spdx.json")
	if bom.Format != FormatSPDX || bom.SpecVersion != "2.3" || bom.Name != "inventory-service" || bom.Version != "1.4.0" {
		t.Errorf("header = %s %s %s %s", bom.Format, bom.SpecVersion, bom.Name, bom.Version)
	}
	if diff := cmp.Diff([]string{"guava@32.1.3-jre", "express@4.18.2", "zlib@1.3", "jest@29.7.0"}, names(bom.Dependencies)); diff != "" {
		t.Errorf("roots (-want +got):\n%s", diff)
	}
	wantStats := Stats{Components: 8, Edges: 4, Roots: 4, Depth: 2, CycleEdges: 1, UnresolvedRefs: 2}
	if bom.Stats != wantStats {
		t.Errorf("stats = %+v, want %+v", bom.Stats, wantStats)
	}
	guava := find(t, bom.Dependencies, "guava")
	if guava.GroupID != "com.google.guava" || guava.DependencyType != "MAVEN" || guava.Filename != "guava-32.1.3-jre.jar" ||
		guava.Sha1 != "7b8b8f8b6d4f2a0e5c6f3c0a3b1d9e8f7a6b5c4d" || guava.Checksums["SHA256"] == "" {
		t.Errorf("guava = %+v", guava)
	}
	if !slices.Equal(guava.Licenses, []string{"Apache-2.0"}) {
		t.Errorf("guava licenses = %v", guava.Licenses)
	}
	// DEPENDENCY_OF points the other way; licenseDeclared when the
	// concluded one is NOASSERTION; PACKAGE_MANAGER spelled with '_'.
	fa := find(t, bom.Dependencies, "guava", "failureaccess")
	if !slices.Equal(fa.Licenses, []string{"Apache-2.0"}) || fa.GroupID != "com.google.guava" || fa.Sha1 != "1dcf1de382a0bf95a3d8b0849546c88bac1292c9" {
		t.Errorf("failureaccess = %+v", fa)
	}
	if diff := cmp.Diff([]string{"body-parser@1.20.1"}, names(find(t, bom.Dependencies, "express").Children)); diff != "" {
		t.Errorf("express children: %s", diff)
	}
	if bp := find(t, bom.Dependencies, "express", "body-parser"); len(bp.Children) != 0 {
		t.Errorf("body-parser kept the edge that closes the cycle: %v", names(bp.Children))
	}
	// Files the package contains (by a relationship and by hasFiles) are
	// its evidence; README.md, contained only by the project, is not kept.
	zlib := find(t, bom.Dependencies, "zlib")
	if diff := cmp.Diff([]string{"file:deflate.c@", "file:inflate.c@"}, names(zlib.Children)); diff != "" {
		t.Errorf("zlib children (-want +got):\n%s", diff)
	}
	inflate := find(t, bom.Dependencies, "zlib", "file:inflate.c")
	if inflate.SystemPath != "zlib-1.3/inflate.c" || inflate.Sha1 != "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3" || inflate.Checksums["MD5"] == "" {
		t.Errorf("inflate.c = %+v", inflate)
	}
	if zlib.DependencyType != "" || zlib.ArtifactID != "zlib" || !slices.Equal(zlib.Licenses, []string{"Zlib"}) {
		t.Errorf("zlib = %+v", zlib)
	}
	golden(t, "inventory-service.spdx", bom)
}

func TestSPDXWithoutSubject(t *testing.T) {
	// Two described packages: both are libraries (roots), the document name
	// is the project name.
	doc := `{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"two-things",
	"documentNamespace":"https://example.com/x","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},
	"packages":[{"SPDXID":"SPDXRef-a","name":"a","versionInfo":"1","downloadLocation":"NONE"},
	            {"SPDXID":"SPDXRef-b","name":"b","versionInfo":"2","downloadLocation":"NONE"},
	            {"SPDXID":"SPDXRef-c","name":"c","versionInfo":"3","downloadLocation":"NONE"}],
	"relationships":[{"spdxElementId":"SPDXRef-DOCUMENT","relationshipType":"DESCRIBES","relatedSpdxElement":"SPDXRef-b"},
	                 {"spdxElementId":"SPDXRef-a","relationshipType":"DESCRIBED_BY","relatedSpdxElement":"SPDXRef-DOCUMENT"},
	                 {"spdxElementId":"SPDXRef-a","relationshipType":"DEPENDS_ON","relatedSpdxElement":"SPDXRef-b"}]}`
	bom, err := Parse(context.Background(), []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bom.Name != "two-things" {
		t.Errorf("name = %q", bom.Name)
	}
	// b is named first (DESCRIBES), a second; c depends on nothing and
	// nothing depends on it. b is also a's child, written deduped there.
	if diff := cmp.Diff([]string{"b@2", "a@1", "c@3"}, names(bom.Dependencies)); diff != "" {
		t.Errorf("roots (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"b@2*"}, names(bom.Dependencies[1].Children)); diff != "" {
		t.Errorf("a's children: %s", diff)
	}
}

func TestSPDX22(t *testing.T) {
	// SPDX 2.2 goes through the library's conversion.
	doc := `{"spdxVersion":"SPDX-2.2","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"old",
	"documentNamespace":"https://example.com/old","creationInfo":{"created":"2026-01-01T00:00:00Z","creators":["Tool: t"]},
	"documentDescribes":["SPDXRef-app"],
	"packages":[{"SPDXID":"SPDXRef-app","name":"app","versionInfo":"1","downloadLocation":"NONE"},
	            {"SPDXID":"SPDXRef-x","name":"x","versionInfo":"9","downloadLocation":"NONE","licenseConcluded":"MIT",
	             "checksums":[{"algorithm":"SHA1","checksumValue":"0123456789abcdef0123456789abcdef01234567"}]}],
	"relationships":[{"spdxElementId":"SPDXRef-app","relationshipType":"DEPENDS_ON","relatedSpdxElement":"SPDXRef-x"}]}`
	bom, err := Parse(context.Background(), []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != "2.2" || bom.Name != "app" {
		t.Errorf("header = %s %s", bom.SpecVersion, bom.Name)
	}
	if len(bom.Dependencies) != 1 || bom.Dependencies[0].Sha1 != "0123456789abcdef0123456789abcdef01234567" || !slices.Equal(bom.Dependencies[0].Licenses, []string{"MIT"}) {
		t.Errorf("dependencies = %+v", bom.Dependencies)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, doc string
		limits    Limits
		code      string
		message   string
	}{
		{"empty", "  \n", Limits{}, CodeInvalid, "empty"},
		{"not JSON", "bom", Limits{}, CodeInvalid, "not valid JSON"},
		{"XML", "\n<bom/>", Limits{}, CodeUnsupported, "XML documents"},
		{"tag-value", "SPDXVersion: SPDX-2.3\nDataLicense: CC0-1.0\n", Limits{}, CodeUnsupported, "tag-value"},
		{"truncated", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[`, Limits{}, CodeInvalid, "not valid JSON"},
		{"array", `[1,2,3]`, Limits{}, CodeUnsupported, "not a JSON object"},
		{"other JSON", `{"name":"x","dependencies":{}}`, Limits{}, CodeUnsupported, "not a CycloneDX"},
		{"bad bomFormat", `{"bomFormat":"SWID","specVersion":"1.5"}`, Limits{}, CodeUnsupported, `bomFormat "SWID"`},
		{"bad specVersion", `{"bomFormat":"CycloneDX","specVersion":"9.9"}`, Limits{}, CodeUnsupported, "specVersion"},
		{"bad component", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":{"a":1}}`, Limits{}, CodeInvalid, "malformed CycloneDX"},
		{"spdx 3", `{"@context":"https://spdx.org/rdf/3.0.1/spdx-context.jsonld","@graph":[]}`, Limits{}, CodeUnsupported, "SPDX 3"},
		{"spdx 9", `{"spdxVersion":"SPDX-9.0"}`, Limits{}, CodeUnsupported, "SPDX-9.0"},
		{"bad spdx", `{"spdxVersion":"SPDX-2.3","packages":"many"}`, Limits{}, CodeInvalid, "malformed SPDX"},
		{"components", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"a"},{"type":"library","name":"b"},{"type":"library","name":"c"}]}`,
			Limits{MaxComponents: 2}, CodeTooLarge, "more than 2 components"},
		{"edges", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"bom-ref":"a","type":"library","name":"a"},{"bom-ref":"b","type":"library","name":"b"},{"bom-ref":"c","type":"library","name":"c"}],
			"dependencies":[{"ref":"a","dependsOn":["b","c"]},{"ref":"b","dependsOn":["c"]}]}`, Limits{MaxEntries: 2}, CodeTooLarge, "more than 2 dependency edges"},
		{"entries", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"bom-ref":"a","type":"library","name":"a"},{"bom-ref":"b","type":"library","name":"b"},{"bom-ref":"c","type":"library","name":"c"}],
			"dependencies":[{"ref":"a","dependsOn":["b"]}]}`, Limits{MaxEntries: 2}, CodeTooLarge, "3 tree entries, 2 roots and 1 edges"},
		{"depth", `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"bom-ref":"a","type":"library","name":"a"},{"bom-ref":"b","type":"library","name":"b"},{"bom-ref":"c","type":"library","name":"c"}],
			"dependencies":[{"ref":"a","dependsOn":["b"]},{"ref":"b","dependsOn":["c"]}]}`, Limits{MaxDepth: 2}, CodeTooLarge, "3 levels deep"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bom, err := Parse(context.Background(), []byte(tc.doc), tc.limits)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", bom)
			}
			e, ok := AsError(err)
			if !ok {
				t.Fatalf("error %v is no *Error", err)
			}
			if e.Code != tc.code || !strings.Contains(e.Error(), tc.message) {
				t.Errorf("error = %s: %v, want %s containing %q", e.Code, e, tc.code, tc.message)
			}
		})
	}
}

func TestByteOrderMark(t *testing.T) {
	doc := append([]byte("\xef\xbb\xbf"), `{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"library","name":"a","version":"1"}]}`...)
	bom, err := Parse(context.Background(), doc, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bom.SpecVersion != "1.6" || len(bom.Dependencies) != 1 {
		t.Errorf("bom = %+v", bom)
	}
}

func TestComponentsWithoutIdentity(t *testing.T) {
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":""},{"type":"library","name":"ok","version":"1"}]}`
	bom, err := Parse(context.Background(), []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bom.Stats.Skipped != 1 || len(bom.Dependencies) != 1 {
		t.Errorf("stats %+v, dependencies %v", bom.Stats, names(bom.Dependencies))
	}
}

// TestMarshalRoundTrip checks the tree is what the pipeline reads: the
// agents' JSON of the same model.
func TestMarshalRoundTrip(t *testing.T) {
	bom := parseFile(t, "shop-backend.cdx.json")
	b, err := json.Marshal([]inventory.ProjectInfo{{Coordinates: &inventory.Coordinates{ArtifactID: bom.Name}, Dependencies: bom.Dependencies}})
	if err != nil {
		t.Fatal(err)
	}
	var back []inventory.ProjectInfo
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(bom.Dependencies, back[0].Dependencies); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestMalformedSHA1(t *testing.T) {
	doc := `{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{"type":"library","name":"a","version":"1",
	"hashes":[{"alg":"SHA-1","content":"not-a-sha1"},{"alg":"SHA-256","content":"ABCDEF"}]}]}`
	bom, err := Parse(context.Background(), []byte(doc), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := bom.Dependencies[0]
	if d.Sha1 != "" || d.Checksums["SHA1"] != "" || d.Checksums["SHA256"] != "abcdef" {
		t.Errorf("hashes: sha1 %q, checksums %v", d.Sha1, d.Checksums)
	}
}

// TestToolGeneratedBOM reads a BOM generated by cyclonedx-gomod v1.10.0 for
// Tally's own module (CycloneDX 1.6).
func TestToolGeneratedBOM(t *testing.T) {
	bom := parseFile(t, "tally-gomod.cdx.json")
	if bom.SpecVersion != "1.6" || bom.Name != "github.com/tallyhq/tally" {
		t.Errorf("header = %s %s", bom.SpecVersion, bom.Name)
	}
	want := Stats{Components: 23, Edges: 36, Roots: 6, Depth: 3}
	if bom.Stats != want {
		t.Errorf("stats = %+v, want %+v", bom.Stats, want)
	}
	pgx := find(t, bom.Dependencies, "pgx/v5")
	if pgx.GroupID != "github.com/jackc" || pgx.Version != "v5.13.0" || pgx.DependencyType != "GO" || pgx.Checksums["SHA256"] == "" {
		t.Errorf("pgx = %+v", pgx)
	}
	// In document order; golang.org/x/sync, also puddle's dependency, is
	// written with its children here, at its least depth.
	if diff := cmp.Diff([]string{"pgpassfile@v1.0.0", "pgservicefile@v0.0.0-20240606120523-5a60cdf6a761", "puddle/v2@v2.2.3", "sync@v0.24.0", "text@v0.41.0"}, names(pgx.Children)); diff != "" {
		t.Errorf("pgx children (-want +got):\n%s", diff)
	}
}

func TestParseCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	data, err := os.ReadFile(filepath.Join("testdata", "inventory-service.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(ctx, data, Limits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

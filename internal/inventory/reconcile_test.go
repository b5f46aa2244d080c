package inventory_test

import (
	"errors"
	"slices"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/inventory"
)

func budget() *inventory.Budget { return &inventory.Budget{Limits: inventory.DefaultLimits} }

func TestFlattenRules(t *testing.T) {
	deps := []inventory.DependencyInfo{
		{GroupID: "g", ArtifactID: "a", Version: "1", Sha1: "AAAA", DependencyType: "MAVEN", Children: []inventory.DependencyInfo{
			{GroupID: "g", ArtifactID: "b", Version: "1", DependencyType: "MAVEN"},
			{Sha1: "f1", Filename: "x.c", SystemPath: "/src/x.c"},
			{Sha1: "f2", SystemPath: `C:\src\y.c`},
			{Sha1: "f1", Filename: "x.c", SystemPath: "/src/x.c"}, // repeated file
			// No identity at all: transparent, its child hangs on a.
			{Scope: "compile", Children: []inventory.DependencyInfo{{ArtifactID: "c", Version: "2"}}},
			{Sha1: "aaaa"}, // a again (sha1 is case-insensitive): a self edge, dropped
		}},
		// b again at the top: one library, now a root; its sha1-less
		// identity is type+coordinates.
		{GroupID: "g", ArtifactID: "b", Version: "1", DependencyType: "MAVEN"},
		// Same coordinates, another type: another library.
		{GroupID: "g", ArtifactID: "b", Version: "1", DependencyType: "NPM"},
		// A top-level entry shaped like a source file is a library.
		{Sha1: "f3", Filename: "z.c"},
		{Checksums: map[string]string{"SHA1": "CC"}, Name: "npm-thing", Version: "3.0.0"},
	}
	g, err := inventory.Flatten(deps, budget())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range g.Libs {
		s := l.Identity + " " + l.MatchType + " " + l.Type + " " + l.Name
		if l.Root {
			s += " root"
		}
		got = append(got, s)
	}
	want := []string{
		"sha1:aaaa SHA1 MAVEN_ARTIFACT a-1 root",
		"gav:MAVEN_ARTIFACT:g:b:1 COORDINATES MAVEN_ARTIFACT b-1 root",
		"gav:UNKNOWN_ARTIFACT::c:2 COORDINATES UNKNOWN_ARTIFACT c-2",
		"gav:NPM_PACKAGE:g:b:1 COORDINATES NPM_PACKAGE b-1 root",
		"sha1:f3 SHA1 UNKNOWN_ARTIFACT z.c root",
		"sha1:cc SHA1 UNKNOWN_ARTIFACT npm-thing-3.0.0 root",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("libraries (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][2]int32{{0, 1}, {0, 2}}, g.Edges); diff != "" {
		t.Errorf("edges (-want +got):\n%s", diff)
	}
	wantFiles := []inventory.ReportedFile{{Lib: 0, Sha1: "f1", Name: "x.c", Path: "/src/x.c"}, {Lib: 0, Sha1: "f2", Name: "y.c", Path: `C:\src\y.c`}}
	if diff := cmp.Diff(wantFiles, g.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestFlattenLimits(t *testing.T) {
	deep := []inventory.DependencyInfo{{ArtifactID: "l0"}}
	cur := &deep[0]
	for i := 1; i < 10; i++ {
		cur.Children = []inventory.DependencyInfo{{ArtifactID: "l" + string(rune('0'+i))}}
		cur = &cur.Children[0]
	}
	var de *inventory.DiffError
	_, err := inventory.Flatten(deep, &inventory.Budget{Limits: inventory.Limits{MaxLibraries: 100, MaxDepth: 9}})
	if !errors.As(err, &de) {
		t.Errorf("depth 10 with a limit of 9: %v", err)
	}
	if _, err := inventory.Flatten(deep, &inventory.Budget{Limits: inventory.Limits{MaxLibraries: 100, MaxDepth: 10}}); err != nil {
		t.Errorf("depth 10 with a limit of 10: %v", err)
	}
	// The budget spans the projects of one submission.
	b := &inventory.Budget{Limits: inventory.Limits{MaxLibraries: 15, MaxDepth: 20}}
	if _, err := inventory.Flatten(deep, b); err != nil {
		t.Fatal(err)
	}
	if _, err := inventory.Flatten(deep, b); !errors.As(err, &de) {
		t.Errorf("20 entries over two projects with a budget of 15: %v", err)
	}
}

func TestLibraryType(t *testing.T) {
	for in, want := range map[string]string{"MAVEN": "MAVEN_ARTIFACT", "gradle": "MAVEN_ARTIFACT", "NPM": "NPM_PACKAGE", "RUBY": "RUBY_GEM",
		"GO": "GO_PACKAGE", "": "UNKNOWN_ARTIFACT", "web-jar": "WEB_JAR_PACKAGE", " crate ": "CRATE_PACKAGE"} {
		if got := inventory.LibraryType(in); got != want {
			t.Errorf("LibraryType(%q) = %s, want %s", in, got, want)
		}
	}
}

func state(rows []int64, edges [][2]int64, files ...inventory.FileRow) *inventory.State {
	s := inventory.NewState()
	for _, id := range rows {
		s.Rows[id] = inventory.Row{LibraryID: id}
	}
	for _, e := range edges {
		s.Edges[inventory.Edge{Parent: e[0], Child: e[1]}] = struct{}{}
	}
	for _, f := range files {
		s.AddFile(f)
	}
	return s
}

func apply(cur *inventory.State, c inventory.Changes) *inventory.State {
	out := inventory.NewState()
	for id, r := range cur.Rows {
		if !slices.Contains(c.DeleteRows, id) {
			out.Rows[id] = r
		}
	}
	for _, r := range c.InsertRows {
		out.Rows[r.LibraryID] = r
	}
	for e := range cur.Edges {
		if !slices.Contains(c.DeleteEdges, e) {
			out.Edges[e] = struct{}{}
		}
	}
	for _, e := range c.InsertEdges {
		out.Edges[e] = struct{}{}
	}
	for _, f := range cur.Files {
		if !slices.Contains(c.DeleteFiles, f) {
			out.AddFile(f)
		}
	}
	for _, f := range c.InsertFiles {
		out.AddFile(f)
	}
	return out
}

func ids(s *inventory.State) []int64 {
	var out []int64
	for id := range s.Rows {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func TestReconcileModes(t *testing.T) {
	f1 := inventory.FileRow{LibraryID: 1, Sha1: "s1", Name: "a.c", Path: "/a.c"}
	f3 := inventory.FileRow{LibraryID: 3, Sha1: "s3", Name: "c.c", Path: "/c.c"}
	cur := state([]int64{1, 2, 3}, [][2]int64{{1, 2}, {2, 3}}, f1, f3)
	sent := state([]int64{2, 3, 4}, [][2]int64{{4, 3}}, f3)
	// OVERRIDE: exactly what was sent.
	c := inventory.Reconcile(cur, sent, inventory.ModeOverride)
	got := apply(cur, c)
	if diff := cmp.Diff(sent, got, cmp.AllowUnexported(inventory.State{})); diff != "" {
		t.Errorf("OVERRIDE (-want +got):\n%s", diff)
	}
	if !slices.Equal(c.Left, []int64{1}) || c.Libraries != 3 || len(c.InsertRows) != 1 {
		t.Errorf("OVERRIDE changes: %+v", c)
	}
	// APPEND: union.
	got = apply(cur, inventory.Reconcile(cur, sent, inventory.ModeAppend))
	if !slices.Equal(ids(got), []int64{1, 2, 3, 4}) || len(got.Edges) != 3 || len(got.Files) != 2 {
		t.Errorf("APPEND: %v %v %v", ids(got), got.Edges, got.Files)
	}
	// REMOVE: the listed libraries go, with their edges and files.
	c = inventory.Reconcile(cur, state([]int64{3, 9}, nil), inventory.ModeRemove)
	got = apply(cur, c)
	if !slices.Equal(ids(got), []int64{1, 2}) || len(got.Edges) != 1 || len(got.Files) != 1 || !slices.Equal(c.Left, []int64{3}) {
		t.Errorf("REMOVE: %v %v %v %+v", ids(got), got.Edges, got.Files, c)
	}
	// Nothing changes when the same inventory is sent again.
	if c := inventory.Reconcile(cur, cur, inventory.ModeOverride); !c.Empty() {
		t.Errorf("identical OVERRIDE changes %+v", c)
	}
	// A changed row (scope) is deleted and inserted again.
	changed := state([]int64{1, 2, 3}, [][2]int64{{1, 2}, {2, 3}}, f1, f3)
	changed.Rows[2] = inventory.Row{LibraryID: 2, Scope: "test"}
	c = inventory.Reconcile(cur, changed, inventory.ModeOverride)
	if !slices.Equal(c.DeleteRows, []int64{2}) || len(c.InsertRows) != 1 || c.InsertRows[0].Scope != "test" || len(c.Left) != 0 {
		t.Errorf("changed row: %+v", c)
	}
}

func benchGraph(b *testing.B, n int) (inventory.ProjectInfo, inventory.Graph) {
	pool := synth.NewPool(synth.NPM, n*2, 1)
	info := pool.NewProject("bench", n, 1).ProjectInfo()
	g, err := inventory.Flatten(info.Dependencies, budget())
	if err != nil {
		b.Fatal(err)
	}
	return info, g
}

func BenchmarkFlatten10k(b *testing.B) {
	info, _ := benchGraph(b, 10000)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := inventory.Flatten(info.Dependencies, budget()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReconcile10k5pct: a 10,000-library project against itself with
// 5% of the libraries replaced.
func BenchmarkReconcile10k5pct(b *testing.B) {
	_, g := benchGraph(b, 10000)
	ids := make([]int64, len(g.Libs))
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	cur := inventory.Wanted(&g, ids)
	next := slices.Clone(ids)
	for i := 0; i < len(next); i += 20 {
		next[i] += 1_000_000
	}
	want := inventory.Wanted(&g, next)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inventory.Reconcile(cur, want, inventory.ModeOverride)
	}
}

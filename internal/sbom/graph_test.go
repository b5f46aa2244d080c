package sbom

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/tallyhq/tally/internal/inventory"
)

// generateBOM writes a CycloneDX JSON BOM of n npm components with the
// cyclonedx-go encoder: the subject depends on the first roots components,
// every component on up to three of later layers (a DAG with many shared
// dependencies) in ten layers, plus back edges that close cycles.
func generateBOM(t testing.TB, n, roots, backEdges int, seed uint64) ([]byte, map[[2]string]bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	ref := func(i int) string { return fmt.Sprintf("pkg:npm/lib-%d@1.0.%d", i, i%7) }
	comps := make([]cdx.Component, n)
	for i := range comps {
		comps[i] = cdx.Component{
			BOMRef: ref(i), Type: cdx.ComponentTypeLibrary, Name: fmt.Sprintf("lib-%d", i), Version: fmt.Sprintf("1.0.%d", i%7),
			PackageURL: ref(i),
			Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA1, Value: fmt.Sprintf("%040x", i+1)}},
			Licenses:   &cdx.Licenses{{License: &cdx.License{ID: "MIT"}}},
		}
	}
	all := map[[2]string]bool{} // every edge of the document
	deps := make([]cdx.Dependency, 0, n+1)
	var top []string
	for i := 0; i < roots; i++ {
		top = append(top, ref(i))
	}
	deps = append(deps, cdx.Dependency{Ref: "app", Dependencies: &top})
	on := make([][]string, n)
	// Ten layers, as deep as npm trees get; edges go to later layers.
	layer := func(i int) int { return i * 10 / n }
	for i := 0; i < n; i++ {
		next := (layer(i) + 1) * n / 10 // the first component of the next layer
		for k := rng.IntN(4); k > 0 && next < n; k-- {
			j := next + rng.IntN(n-next)
			if !all[[2]string{ref(i), ref(j)}] {
				all[[2]string{ref(i), ref(j)}] = true
				on[i] = append(on[i], ref(j))
			}
		}
	}
	for b := 0; b < backEdges; b++ {
		// j → i with i < j: closes a cycle whenever i reaches j.
		i := rng.IntN(n - 1)
		j := i + 1 + rng.IntN(n-i-1)
		if !all[[2]string{ref(j), ref(i)}] {
			all[[2]string{ref(j), ref(i)}] = true
			on[j] = append(on[j], ref(i))
		}
	}
	for i := 0; i < n; i++ {
		if len(on[i]) > 0 {
			deps = append(deps, cdx.Dependency{Ref: ref(i), Dependencies: &on[i]})
		}
	}
	bom := cdx.NewBOM()
	bom.Metadata = &cdx.Metadata{Component: &cdx.Component{BOMRef: "app", Type: cdx.ComponentTypeApplication, Name: "generated"}}
	bom.Components = &comps
	bom.Dependencies = &deps
	var buf bytes.Buffer
	if err := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).Encode(bom); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), all
}

// walk checks the tree's invariants and returns its edges, keyed by purl.
func walk(t *testing.T, deps []inventory.DependencyInfo) (edges map[[2]string]int, expanded map[string]int, entries int) {
	edges = map[[2]string]int{}
	expanded = map[string]int{}
	var visit func(parent string, ds []inventory.DependencyInfo)
	visit = func(parent string, ds []inventory.DependencyInfo) {
		for _, d := range ds {
			entries++
			if parent != "" {
				edges[[2]string{parent, d.Purl}]++
			}
			if d.Deduped {
				if len(d.Children) > 0 {
					t.Fatalf("deduped %s has children", d.Purl)
				}
				continue
			}
			expanded[d.Purl]++
			visit(d.Purl, d.Children)
		}
	}
	visit("", deps)
	return edges, expanded, entries
}

func TestLargeGeneratedBOM(t *testing.T) {
	const n = 20_000
	for _, tc := range []struct {
		name      string
		backEdges int
	}{{"dag", 0}, {"with cycles", 500}} {
		t.Run(tc.name, func(t *testing.T) {
			data, all := generateBOM(t, n, 40, tc.backEdges, 7)
			t.Logf("generated %d bytes, %d edges", len(data), len(all))
			bom, err := Parse(context.Background(), data, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			edges, expanded, entries := walk(t, bom.Dependencies)
			if bom.Stats.Components != n || len(expanded) != n {
				t.Fatalf("components: stats %d, expanded %d, want %d", bom.Stats.Components, len(expanded), n)
			}
			for purl, k := range expanded {
				if k != 1 {
					t.Fatalf("%s written with its children %d times", purl, k)
				}
			}
			// Every tree edge is a document edge, written once.
			for e, k := range edges {
				if k != 1 || !all[e] {
					t.Fatalf("edge %v appears %d times (in the document: %v)", e, k, all[e])
				}
			}
			// Every document edge is in the tree, or was dropped because
			// it closes a cycle through the kept edges.
			dropped := 0
			for e := range all {
				if edges[e] == 0 {
					dropped++
					if !reaches(edges, e[1], e[0]) {
						t.Fatalf("edge %v was dropped but closes no cycle", e)
					}
				}
			}
			if bom.Stats.CycleEdges != dropped || bom.Stats.Edges != len(edges) {
				t.Errorf("stats %+v; tree edges %d, dropped %d", bom.Stats, len(edges), dropped)
			}
			if tc.backEdges == 0 && dropped != 0 {
				t.Errorf("a DAG lost %d edges", dropped)
			}
			if tc.backEdges > 0 && dropped == 0 {
				t.Errorf("no cycle was found in a graph with %d back edges", tc.backEdges)
			}
			// One entry per root and one per edge: linear, however shared.
			if entries != bom.Stats.Roots+bom.Stats.Edges {
				t.Errorf("entries %d, want roots %d + edges %d", entries, bom.Stats.Roots, bom.Stats.Edges)
			}
			if cyclic(edges) {
				t.Error("the kept edges still contain a cycle")
			}
			if bom.Stats.Depth > 12 {
				t.Errorf("depth %d for a ten-layer graph", bom.Stats.Depth)
			}
		})
	}
}

// reaches reports whether to can be reached from from over edges.
func reaches(edges map[[2]string]int, from, to string) bool {
	succ := map[string][]string{}
	for e := range edges {
		succ[e[0]] = append(succ[e[0]], e[1])
	}
	seen := map[string]bool{from: true}
	queue := []string{from}
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		if v == to {
			return true
		}
		for _, w := range succ[v] {
			if !seen[w] {
				seen[w] = true
				queue = append(queue, w)
			}
		}
	}
	return false
}

func cyclic(edges map[[2]string]int) bool {
	succ := map[string][]string{}
	indeg := map[string]int{}
	for e := range edges {
		succ[e[0]] = append(succ[e[0]], e[1])
		indeg[e[1]]++
		if _, ok := indeg[e[0]]; !ok {
			indeg[e[0]] = 0
		}
	}
	var queue []string
	for v, d := range indeg {
		if d == 0 {
			queue = append(queue, v)
		}
	}
	seen := 0
	for len(queue) > 0 {
		v := queue[0]
		queue = queue[1:]
		seen++
		for _, w := range succ[v] {
			if indeg[w]--; indeg[w] == 0 {
				queue = append(queue, w)
			}
		}
	}
	return seen != len(indeg)
}

// TestDiamondLadder: 60 stacked diamonds have 2^60 root-to-leaf paths; the
// tree stays one entry per edge and as shallow as the graph allows.
func TestDiamondLadder(t *testing.T) {
	const rungs = 60
	g := newGraph(Limits{MaxDepth: 200}.withDefaults())
	ref := func(s string, i int) string { return fmt.Sprintf("%s%d", s, i) }
	for i := 0; i <= rungs; i++ {
		for _, s := range []string{"top", "left", "right"} {
			if err := g.add(ref(s, i), inventory.DependencyInfo{ArtifactID: ref(s, i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	node := func(s string, i int) int { n, _ := g.node(ref(s, i)); return n }
	for i := 0; i < rungs; i++ {
		for _, e := range [][2]int{{node("top", i), node("left", i)}, {node("top", i), node("right", i)},
			{node("left", i), node("top", i+1)}, {node("right", i), node("top", i+1)}} {
			if err := g.edge(e[0], e[1]); err != nil {
				t.Fatal(err)
			}
		}
	}
	g.root(node("top", 0))
	deps, err := g.tree()
	if err != nil {
		t.Fatal(err)
	}
	_, entries, _ := walkNames(deps)
	// top0 plus 4 edges per rung; left_rungs and right_rungs are roots of
	// their own (nothing depends on them).
	if want := 1 + 4*rungs + 2; entries != want {
		t.Errorf("tree entries = %d, want %d", entries, want)
	}
	if g.stats.Depth != 2*rungs+1 {
		t.Errorf("depth = %d, want %d", g.stats.Depth, 2*rungs+1)
	}
}

func walkNames(deps []inventory.DependencyInfo) (map[string]int, int, int) {
	seen := map[string]int{}
	entries, depth := 0, 0
	var visit func(ds []inventory.DependencyInfo, level int)
	visit = func(ds []inventory.DependencyInfo, level int) {
		depth = max(depth, level)
		for _, d := range ds {
			entries++
			seen[d.ArtifactID]++
			visit(d.Children, level+1)
		}
	}
	visit(deps, 0)
	return seen, entries, depth
}

// TestLongChainDepth: a chain longer than the depth limit is refused, not
// truncated, and the walk does not recurse on the chain.
func TestLongChainDepth(t *testing.T) {
	g := newGraph(Limits{MaxDepth: 1000}.withDefaults())
	const n = 50_000
	for i := 0; i < n; i++ {
		if err := g.add(fmt.Sprint(i), inventory.DependencyInfo{ArtifactID: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if err := g.edge(i-1, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A cycle back to the start: dropped, so the chain stays a chain.
	if err := g.edge(n-1, 0); err != nil {
		t.Fatal(err)
	}
	_, err := g.tree()
	e, ok := AsError(err)
	if !ok || e.Code != CodeTooLarge {
		t.Fatalf("err = %v, want a too_large error", err)
	}
	if g.stats.CycleEdges != 1 {
		t.Errorf("cycle edges = %d", g.stats.CycleEdges)
	}
}

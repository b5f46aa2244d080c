package api

import (
	"fmt"
	"testing"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/inventory"
)

// graphFromSynth builds the in-memory project graph the read path answers
// from, as loadGraph would after its two queries.
func graphFromSynth(p *synth.Project, pool *synth.Pool) *projectGraph {
	g := &projectGraph{libs: map[int64]*inventory.ProjectLibrary{}, children: map[int64][]int64{}, inHouse: map[int64]bool{}}
	for _, id := range p.Libs {
		l := pool.Library(id)
		g.libs[int64(id)] = &inventory.ProjectLibrary{Library: inventory.Library{
			ID: int64(id), KeyUUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", id), Filename: l.Filename, Name: l.ArtifactID,
			GroupID: l.GroupID, ArtifactID: l.ArtifactID, Version: l.Version, Sha1: l.Sha1, Type: "MAVEN_ARTIFACT",
			Licenses: []string{l.License}}, MatchType: "SHA1"}
		g.order = append(g.order, int64(id))
	}
	for parent, cs := range p.Children {
		for _, c := range cs {
			g.children[int64(parent)] = append(g.children[int64(parent)], int64(c))
		}
	}
	for _, r := range p.Roots {
		g.roots = append(g.roots, int64(r))
	}
	return g
}

// BenchmarkHierarchyEncode measures building and encoding the
// getProjectHierarchy response from a loaded graph.
func BenchmarkHierarchyEncode(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		pool := synth.NewPool(synth.NPM, 3*size, 1)
		g := graphFromSynth(pool.NewProject("p", size, 2), pool)
		b.Run(fmt.Sprintf("libraries=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			var n int
			for b.Loop() {
				out := append(make([]byte, 0, 700*size), `{"libraries":`...)
				out = g.appendTree(out, g.roots, make(map[int64]bool, size))
				n = len(append(out, '}'))
			}
			b.ReportMetric(float64(n), "bytes/op")
		})
	}
}

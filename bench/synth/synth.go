// Package synth builds realistic synthetic inventories from a fixed seed:
// Maven-like trees (depth 6) and npm-like trees (depth 11), 1-3 dependency
// edges per library, real-looking coordinates and sha1s, and a pool of
// libraries shared across projects. The same seed gives the same inventory.
package synth

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"math/rand/v2"

	"github.com/tallyhq/tally/internal/inventory"
)

// Ecosystem selects the shape of a generated inventory.
type Ecosystem struct {
	Name           string
	DependencyType string
	Depth          int
}

// The two shapes of the benchmark.
var (
	Maven = Ecosystem{Name: "maven", DependencyType: "MAVEN", Depth: 6}
	NPM   = Ecosystem{Name: "npm", DependencyType: "NPM", Depth: 11}
)

var (
	groups = []string{"org.apache.commons", "com.fasterxml.jackson.core", "org.springframework", "io.netty", "com.google.guava",
		"org.slf4j", "ch.qos.logback", "org.hibernate", "io.micrometer", "org.eclipse.jetty", "com.squareup.okhttp3", "org.yaml"}
	words = []string{"core", "api", "utils", "commons", "codec", "io", "lang", "databind", "annotations", "http", "client",
		"server", "parser", "runtime", "config", "logging", "json", "xml", "crypto", "stream", "cache", "pool", "test", "rx"}
	licenses = []string{"Apache-2.0", "MIT", "BSD-3-Clause", "EPL-2.0", "ISC", "LGPL-2.1-only"}
)

// Library is a generated library; ID is its index in the generator's pool.
type Library struct {
	ID                           int
	GroupID, ArtifactID, Version string
	Sha1, Filename, License      string
}

// Pool is the universe libraries are drawn from; projects generated from one
// pool share libraries, as real projects of one organization do.
type Pool struct {
	eco  Ecosystem
	libs []Library
}

// NewPool makes size distinct libraries of an ecosystem from seed.
func NewPool(eco Ecosystem, size int, seed uint64) *Pool {
	r := rand.New(rand.NewPCG(seed, 0x7a11))
	p := &Pool{eco: eco, libs: make([]Library, size)}
	for i := range p.libs {
		w1, w2 := words[r.IntN(len(words))], words[r.IntN(len(words))]
		l := Library{ID: i, Version: fmt.Sprintf("%d.%d.%d", r.IntN(6), r.IntN(30), r.IntN(20)), License: licenses[r.IntN(len(licenses))]}
		if eco.Name == "npm" {
			l.ArtifactID = fmt.Sprintf("%s-%s-%d", w1, w2, i)
			l.Filename = fmt.Sprintf("%s-%s.tgz", l.ArtifactID, l.Version)
		} else {
			l.GroupID = groups[r.IntN(len(groups))]
			l.ArtifactID = fmt.Sprintf("%s-%s-%d", w1, w2, i)
			l.Filename = fmt.Sprintf("%s-%s.jar", l.ArtifactID, l.Version)
		}
		sum := sha1.Sum([]byte(fmt.Sprintf("%s/%s:%s:%s", eco.Name, l.GroupID, l.ArtifactID, l.Version)))
		l.Sha1 = hex.EncodeToString(sum[:])
		p.libs[i] = l
	}
	return p
}

// Project is a generated project inventory: a DAG over pool libraries.
type Project struct {
	Name     string
	Libs     []int         // pool indexes, in level order
	Children map[int][]int // pool index -> pool indexes
	Roots    []int
	pool     *Pool
}

// Edges counts the project's dependency edges.
func (p *Project) Edges() int {
	n := 0
	for _, c := range p.Children {
		n += len(c)
	}
	return n
}

// NewProject draws n libraries from the pool (about shareFrac of them from
// a common head of the pool, the rest spread over it) and links them into
// levels up to the ecosystem's depth: every library below the top level has
// one parent on the level above, and about half get one or two more edges,
// so libraries have 1-3 edges.
func (p *Pool) NewProject(name string, n int, seed uint64) *Project {
	r := rand.New(rand.NewPCG(seed, 0xbe4c))
	if n > len(p.libs) {
		n = len(p.libs)
	}
	chosen := make([]int, 0, n)
	seen := make(map[int]bool, n)
	common := min(len(p.libs), max(n/2, 1)*2)
	for len(chosen) < n {
		var id int
		if r.IntN(10) < 3 {
			id = r.IntN(common) // shared head of the pool
		} else {
			id = r.IntN(len(p.libs))
		}
		if !seen[id] {
			seen[id] = true
			chosen = append(chosen, id)
		}
	}
	depth := p.eco.Depth
	// Level sizes grow towards the middle of the tree, as real trees do.
	levels := make([][]int, depth)
	for i, id := range chosen {
		lvl := 0
		if i >= max(n/20, 1) {
			lvl = 1 + r.IntN(depth-1)
		}
		levels[lvl] = append(levels[lvl], id)
	}
	proj := &Project{Name: name, Children: map[int][]int{}, pool: p}
	proj.Roots = append(proj.Roots, levels[0]...)
	placed := append([]int{}, levels[0]...)
	for lvl := 1; lvl < depth; lvl++ {
		above := levels[lvl-1]
		if len(above) == 0 {
			above = placed
		}
		for _, id := range levels[lvl] {
			parent := above[r.IntN(len(above))]
			proj.Children[parent] = append(proj.Children[parent], id)
			if r.IntN(2) == 0 {
				extra := 1 + r.IntN(2)
				for k := 0; k < extra; k++ {
					q := placed[r.IntN(len(placed))]
					if q != parent && !contains(proj.Children[q], id) {
						proj.Children[q] = append(proj.Children[q], id)
					}
				}
			}
		}
		placed = append(placed, levels[lvl]...)
	}
	proj.Libs = placed
	return proj
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Mutate returns a copy of the project with frac of its libraries replaced
// by other pool libraries at the same places (new versions, as a CI build
// that bumped some dependencies).
func (p *Project) Mutate(frac float64, seed uint64) *Project {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	used := make(map[int]bool, len(p.Libs))
	for _, id := range p.Libs {
		used[id] = true
	}
	repl := map[int]int{}
	k := int(float64(len(p.Libs)) * frac)
	for len(repl) < k {
		old := p.Libs[r.IntN(len(p.Libs))]
		if _, done := repl[old]; done {
			continue
		}
		nw := r.IntN(len(p.pool.libs))
		if used[nw] {
			continue
		}
		used[nw] = true
		repl[old] = nw
	}
	m := func(id int) int {
		if n, ok := repl[id]; ok {
			return n
		}
		return id
	}
	q := &Project{Name: p.Name, Children: make(map[int][]int, len(p.Children)), pool: p.pool}
	for _, id := range p.Libs {
		q.Libs = append(q.Libs, m(id))
	}
	for _, id := range p.Roots {
		q.Roots = append(q.Roots, m(id))
	}
	for parent, cs := range p.Children {
		nc := make([]int, len(cs))
		for i, c := range cs {
			nc[i] = m(c)
		}
		q.Children[m(parent)] = nc
	}
	return q
}

// Dependencies renders the project as the agents' DependencyInfo tree. A
// library reached again after its first place is written without children
// and marked deduped, as npm and the Unified Agent do, which keeps the tree
// linear in the number of edges.
func (p *Project) Dependencies() []inventory.DependencyInfo {
	expanded := make(map[int]bool, len(p.Libs))
	var render func(ids []int) []inventory.DependencyInfo
	render = func(ids []int) []inventory.DependencyInfo {
		out := make([]inventory.DependencyInfo, 0, len(ids))
		for _, id := range ids {
			l := p.pool.libs[id]
			d := inventory.DependencyInfo{
				GroupID: l.GroupID, ArtifactID: l.ArtifactID, Version: l.Version, Sha1: l.Sha1, Filename: l.Filename,
				DependencyType: p.pool.eco.DependencyType, Licenses: []string{l.License}, Scope: "compile",
			}
			if expanded[id] {
				d.Deduped = true
			} else {
				expanded[id] = true
				d.Children = render(p.Children[id])
			}
			out = append(out, d)
		}
		return out
	}
	return render(p.Roots)
}

// ProjectInfo renders the project as one AgentProjectInfo.
func (p *Project) ProjectInfo() inventory.ProjectInfo {
	return inventory.ProjectInfo{
		Coordinates:  &inventory.Coordinates{ArtifactID: p.Name, Version: "1.0.0"},
		Dependencies: p.Dependencies(),
	}
}

// Library returns a pool library by index.
func (p *Pool) Library(id int) Library { return p.libs[id] }

package sbom

import (
	"fmt"

	"github.com/tallyhq/tally/internal/inventory"
)

// graph is a document's libraries and dependency edges before they become
// the agents' tree. Nodes are indexes into libs; edges are deduplicated.
type graph struct {
	limits   Limits
	libs     []inventory.DependencyInfo
	refs     map[string]int // the document's identifier of each node
	succ     [][]int
	edgeSeen map[[2]int]struct{}
	edges    int
	// roots named by the document (the subject's direct dependencies or
	// the described packages), in document order.
	roots    []int
	rootSeen map[int]bool
	stats    Stats
}

func newGraph(limits Limits) *graph {
	return &graph{limits: limits, refs: map[string]int{}, edgeSeen: map[[2]int]struct{}{}, rootSeen: map[int]bool{}}
}

// add adds a library under its document reference; a reference seen before
// keeps its first library.
func (g *graph) add(ref string, d inventory.DependencyInfo) error {
	if _, ok := g.refs[ref]; ok {
		return nil
	}
	if len(g.libs) >= g.limits.MaxComponents {
		return &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the document has more than %d components (the limit)", g.limits.MaxComponents)}
	}
	g.refs[ref] = len(g.libs)
	g.libs = append(g.libs, d)
	g.succ = append(g.succ, nil)
	return nil
}

func (g *graph) node(ref string) (int, bool) {
	i, ok := g.refs[ref]
	return i, ok
}

// edge records that from depends on (or contains) to.
func (g *graph) edge(from, to int) error {
	if from == to {
		g.stats.CycleEdges++
		return nil
	}
	k := [2]int{from, to}
	if _, ok := g.edgeSeen[k]; ok {
		return nil
	}
	if g.edges >= g.limits.MaxEntries {
		return &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the document has more than %d dependency edges (the limit is %d tree entries)", g.limits.MaxEntries, g.limits.MaxEntries)}
	}
	g.edgeSeen[k] = struct{}{}
	g.succ[from] = append(g.succ[from], to)
	g.edges++
	return nil
}

func (g *graph) root(i int) {
	if !g.rootSeen[i] {
		g.rootSeen[i] = true
		g.roots = append(g.roots, i)
	}
}

// tree turns the graph into the agents' tree.
//
// Edges that close a cycle are dropped: a depth-first walk from the named
// roots, then from every other node in document order, drops each edge that
// leads back to a node on the current path, which leaves a DAG.
//
// The roots are the named ones, then every library nothing (left) depends
// on. A breadth-first walk from them gives each library a home: the place
// nearest a root where it appears. The library is written there with all its
// children; at every other place (a second parent, a root that is also a
// dependency) it is written without children and marked deduped. So every
// kept edge appears exactly once in the tree, the tree has one entry per
// root plus one per edge, and its depth is the least any tree of the graph
// can have.
func (g *graph) tree() ([]inventory.DependencyInfo, error) {
	n := len(g.libs)
	kept := g.dropCycles()

	// Roots: the named ones first, then the libraries with no parent left.
	indeg := make([]int, n)
	for u := range kept {
		for _, v := range kept[u] {
			indeg[v]++
		}
	}
	level := make([]int, n)
	home := make([]int, n)
	for i := range level {
		level[i] = -1
		home[i] = -1
	}
	var roots, queue []int
	addRoot := func(r int) {
		if level[r] == -1 {
			level[r] = 0
			roots = append(roots, r)
			queue = append(queue, r)
		}
	}
	bfs := func() {
		for len(queue) > 0 {
			u := queue[0]
			queue = queue[1:]
			for _, v := range kept[u] {
				if level[v] == -1 {
					level[v] = level[u] + 1
					home[v] = u
					queue = append(queue, v)
				}
			}
		}
	}
	// The named roots, then the libraries without parents; the kept edges
	// form a DAG, so these reach every library. One breadth-first walk from
	// all of them at once places each library at its least depth.
	for _, r := range g.roots {
		addRoot(r)
	}
	for i := 0; i < n; i++ {
		if indeg[i] == 0 {
			addRoot(i)
		}
	}
	bfs()

	depth := 0
	for u := 0; u < n; u++ {
		d := level[u] + 1
		if len(kept[u]) > 0 {
			d++
		}
		depth = max(depth, d)
	}
	edges := 0
	for u := range kept {
		edges += len(kept[u])
	}
	if entries := len(roots) + edges; entries > g.limits.MaxEntries {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the document converts to %d tree entries, %d roots and %d edges (the limit is %d)", entries, len(roots), edges, g.limits.MaxEntries)}
	}
	if depth > g.limits.MaxDepth {
		return nil, &Error{Code: CodeTooLarge, Message: fmt.Sprintf("the dependency graph is %d levels deep (the limit is %d)", depth, g.limits.MaxDepth)}
	}
	g.stats.Components = n
	g.stats.Roots = len(roots)
	g.stats.Depth = depth
	g.stats.Edges = edges

	var expand func(u int) inventory.DependencyInfo
	expand = func(u int) inventory.DependencyInfo {
		d := g.libs[u]
		if len(kept[u]) > 0 {
			d.Children = make([]inventory.DependencyInfo, 0, len(kept[u]))
		}
		for _, v := range kept[u] {
			if home[v] == u {
				d.Children = append(d.Children, expand(v))
				continue
			}
			leaf := g.libs[v]
			leaf.Deduped = true
			d.Children = append(d.Children, leaf)
		}
		return d
	}
	out := make([]inventory.DependencyInfo, 0, len(roots))
	for _, r := range roots {
		out = append(out, expand(r))
	}
	return out, nil
}

// dropCycles returns the successor lists without the edges that close a
// cycle, counting them in stats. The walk is iterative, so a long chain
// cannot exhaust the stack.
func (g *graph) dropCycles() [][]int {
	const (
		white = iota
		grey
		black
	)
	n := len(g.libs)
	color := make([]uint8, n)
	kept := make([][]int, n)
	type frame struct{ u, next int }
	var stack []frame
	visit := func(s int) {
		if color[s] != white {
			return
		}
		color[s] = grey
		stack = append(stack[:0], frame{s, 0})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next == len(g.succ[top.u]) {
				color[top.u] = black
				stack = stack[:len(stack)-1]
				continue
			}
			v := g.succ[top.u][top.next]
			top.next++
			switch color[v] {
			case grey:
				g.stats.CycleEdges++
			case black:
				kept[top.u] = append(kept[top.u], v)
			default:
				kept[top.u] = append(kept[top.u], v)
				color[v] = grey
				stack = append(stack, frame{v, 0})
			}
		}
	}
	for _, r := range g.roots {
		visit(r)
	}
	for i := 0; i < n; i++ {
		visit(i)
	}
	return kept
}

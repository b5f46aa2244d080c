package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
)

// Date formats of the protocol.
const (
	inventoryTimeFormat = "2006-01-02 15:04:05"
	vitalsTimeFormat    = "2006-01-02 15:04:05 +0000"
	stateDateFormat     = "2006-01-02"
	requestTimeFormat   = "2006-01-02T15:04:05Z"
)

// projectGraph is a project's inventory loaded for answering: two queries,
// then everything in memory.
type projectGraph struct {
	libs     map[int64]*inventory.ProjectLibrary
	order    []int64 // keyId order
	children map[int64][]int64
	roots    []int64
	inHouse  map[int64]bool
}

// loadGraph loads a project's inventory and edges; libraries matching
// inHouse patterns are marked for leaving out (nil leaves nothing out).
// details adds what only getProjectLibraryDependencies shows.
func (a *API) loadGraph(ctx context.Context, p store.Project, inHouse []string, details bool) (*projectGraph, error) {
	load := a.store.ProjectLibraries
	if details {
		load = a.store.ProjectInventory
	}
	libs, err := load(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	edges, err := a.store.ProjectEdges(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	g := &projectGraph{libs: make(map[int64]*inventory.ProjectLibrary, len(libs)), children: map[int64][]int64{}, inHouse: map[int64]bool{}}
	for i := range libs {
		g.libs[libs[i].ID] = &libs[i]
		g.order = append(g.order, libs[i].ID)
	}
	hasParent := map[int64]bool{}
	for _, e := range edges {
		if g.libs[e.Parent] == nil || g.libs[e.Child] == nil {
			continue
		}
		g.children[e.Parent] = append(g.children[e.Parent], e.Child)
		hasParent[e.Child] = true
	}
	for _, id := range g.order {
		if g.libs[id].Root || !hasParent[id] {
			g.roots = append(g.roots, id)
		}
	}
	if len(inHouse) > 0 {
		for _, id := range g.order {
			if inventory.InHouse(&g.libs[id].Library, inHouse) {
				g.inHouse[id] = true
			}
		}
	}
	return g, nil
}

// cachedInventoryRead answers an inventory read of the call's project from
// the response cache, or renders it from the loaded graph and keeps it.
func (a *API) cachedInventoryRead(ctx context.Context, c *call, requestType string,
	render func(store.Project, *projectGraph) ([]byte, error)) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	includeInHouse, err := c.optBool("includeInHouseData", true)
	if err != nil {
		return nil, err
	}
	var patterns []string
	if !includeInHouse {
		if patterns, err = a.store.InhousePatterns(ctx, p.OrgID); err != nil {
			return nil, fmt.Errorf("%s: %w", requestType, err)
		}
	}
	key := cacheKey{requestType: requestType, projectID: p.ID, updatedAt: p.UpdatedAt.UnixMilli(), inHouse: inHouseKey(includeInHouse, patterns)}
	if body, ok := a.cache.get(key); ok {
		return rawJSON(body), nil
	}
	g, err := a.loadGraph(ctx, p, patterns, false)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", requestType, err)
	}
	body, err := render(p, g)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", requestType, err)
	}
	a.cache.put(key, body)
	return rawJSON(body), nil
}

// appendTree writes ids as a JSON array of libraries, depth first. A
// library appears with its "dependencies" at its first place in the walk and
// without them at later places (as npm ls marks "deduped"), which keeps the
// answer linear in the inventory size; cycles end there too. An in-house
// library left out is replaced by its dependencies.
func (g *projectGraph) appendTree(b []byte, ids []int64, expanded map[int64]bool) []byte {
	b = append(b, '[')
	b = g.appendNodes(b, ids, expanded, false)
	return append(b, ']')
}

// appendNodes writes the nodes of ids, comma-separated; more says whether
// something was written before them in the same array.
func (g *projectGraph) appendNodes(b []byte, ids []int64, expanded map[int64]bool, more bool) []byte {
	for _, id := range ids {
		first := !expanded[id]
		expanded[id] = true
		if g.inHouse[id] {
			if first {
				n := len(b)
				b = g.appendNodes(b, g.children[id], expanded, more)
				more = more || len(b) > n
			}
			continue
		}
		if more {
			b = append(b, ',')
		}
		more = true
		b = appendLibraryFields(b, g.libs[id])
		if first && len(g.children[id]) > 0 {
			mark := len(b)
			b = append(b, `,"dependencies":[`...)
			n := len(b)
			b = g.appendNodes(b, g.children[id], expanded, false)
			if len(b) == n {
				b = b[:mark] // only in-house children, all left out
			} else {
				b = append(b, ']')
			}
		}
		b = append(b, '}')
	}
	return b
}

func (a *API) getProjectHierarchy(ctx context.Context, c *call) (any, error) {
	return a.cachedInventoryRead(ctx, c, "getProjectHierarchy", func(_ store.Project, g *projectGraph) ([]byte, error) {
		b := make([]byte, 0, 700*len(g.order)+32)
		b = append(b, `{"libraries":`...)
		b = g.appendTree(b, g.roots, make(map[int64]bool, len(g.order)))
		return append(b, "}\n"...), nil
	})
}

type inventoryVitals struct {
	ProductName     string `json:"productName"`
	Name            string `json:"name"`
	Token           string `json:"token"`
	CreationDate    string `json:"creationDate"`
	LastUpdatedDate string `json:"lastUpdatedDate"`
}

func (a *API) getProjectInventory(ctx context.Context, c *call) (any, error) {
	return a.cachedInventoryRead(ctx, c, "getProjectInventory", func(p store.Project, g *projectGraph) ([]byte, error) {
		vitals, err := encodeSuccess(inventoryVitals{p.ProductName, p.Name, p.Token, p.CreatedAt.Format(inventoryTimeFormat), p.UpdatedAt.Format(inventoryTimeFormat)})
		if err != nil {
			return nil, err
		}
		b := make([]byte, 0, 700*len(g.order)+256)
		b = append(b, `{"projectVitals":`...)
		b = append(b, bytes.TrimSpace(vitals)...)
		b = append(b, `,"libraries":[`...)
		more := false
		for _, id := range g.order {
			if g.inHouse[id] {
				continue
			}
			if more {
				b = append(b, ',')
			}
			more = true
			b = append(appendLibraryFields(b, g.libs[id]), '}')
		}
		return append(b, "]}\n"...), nil
	})
}

func (a *API) getProjectState(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	type state struct {
		LastProcess string `json:"lastProcess"`
		InProgress  bool   `json:"inProgress"`
		Date        string `json:"date"`
	}
	return struct {
		ProjectState state `json:"projectState"`
	}{state{p.LastProcess, p.InProgress, p.StateAt.Format(stateDateFormat)}}, nil
}

// projectLibrary resolves keyUuid to a library in the project's inventory.
func (a *API) projectLibrary(ctx context.Context, c *call, p store.Project) (inventory.Library, error) {
	keyUUID, err := c.str("keyUuid")
	if err != nil {
		return inventory.Library{}, err
	}
	lib, err := a.store.LibraryByUUID(ctx, p.OrgID, keyUUID)
	if errors.Is(err, store.ErrNotFound) {
		return inventory.Library{}, errInvalidKeyUUID
	}
	if err != nil {
		return inventory.Library{}, err
	}
	ok, err := a.store.ProjectHasLibrary(ctx, p.ID, lib.ID)
	if err != nil {
		return inventory.Library{}, err
	}
	if !ok {
		return inventory.Library{}, errInvalidKeyUUID
	}
	return lib, nil
}

type license struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// licensesOf lists licence names as the spec's objects; Tally keeps names
// as the agents send them, so url is empty.
func licensesOf(names []string) []license {
	out := make([]license, 0, len(names))
	for _, n := range names {
		out = append(out, license{Name: n, URL: ""})
	}
	return out
}

type sourceFileJSON struct {
	Sha1 string `json:"sha1"`
	Name string `json:"name"`
	Path string `json:"path"`
}

func (a *API) getLibrarySourceFiles(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	lib, err := a.projectLibrary(ctx, c, p)
	if err != nil {
		return nil, err
	}
	files, err := a.store.SourceFiles(ctx, p.ID, lib.ID)
	if err != nil {
		return nil, err
	}
	out := make([]sourceFileJSON, 0, len(files))
	for _, f := range files {
		out = append(out, sourceFileJSON(f))
	}
	return struct {
		SourceFiles []sourceFileJSON `json:"sourceFiles"`
	}{out}, nil
}

// dependencyJSON is a library as getProjectLibraryDependencies shows it.
type dependencyJSON struct {
	KeyUUID      string            `json:"keyUuid"`
	Name         string            `json:"name"`
	GroupID      string            `json:"groupId"`
	ArtifactID   string            `json:"artifactId"`
	Version      string            `json:"version"`
	Classifier   string            `json:"classifier"`
	Scope        string            `json:"scope"`
	Extension    string            `json:"extension"`
	Sha1         string            `json:"sha1"`
	Dependencies []*dependencyJSON `json:"dependencies"`
	Licenses     []license         `json:"licenses"`
}

func (a *API) getProjectLibraryDependencies(ctx context.Context, c *call) (any, error) {
	p, err := a.readableProject(ctx, c)
	if err != nil {
		return nil, err
	}
	lib, err := a.projectLibrary(ctx, c, p)
	if err != nil {
		return nil, err
	}
	g, err := a.loadGraph(ctx, p, nil, true)
	if err != nil {
		return nil, fmt.Errorf("library dependencies: %w", err)
	}
	var walk func(ids []int64, expanded map[int64]bool) []*dependencyJSON
	walk = func(ids []int64, expanded map[int64]bool) []*dependencyJSON {
		out := []*dependencyJSON{}
		for _, id := range ids {
			l := g.libs[id]
			d := &dependencyJSON{KeyUUID: l.KeyUUID, Name: l.Name, GroupID: l.GroupID, ArtifactID: l.ArtifactID,
				Version: l.Version, Classifier: l.Classifier, Scope: l.Scope, Extension: l.Extension, Sha1: l.Sha1,
				Dependencies: []*dependencyJSON{}, Licenses: licensesOf(l.Licenses)}
			if !expanded[id] {
				expanded[id] = true
				d.Dependencies = walk(g.children[id], expanded)
			}
			out = append(out, d)
		}
		return out
	}
	deps := walk(g.children[lib.ID], map[int64]bool{lib.ID: true})
	// The spec shows the list wrapped in one more array.
	return struct {
		Dependencies [][]*dependencyJSON `json:"dependencies"`
	}{[][]*dependencyJSON{deps}}, nil
}

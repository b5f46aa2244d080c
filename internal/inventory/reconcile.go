package inventory

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"
)

// This file turns an agent's dependency trees into the flat form the
// pipeline stores (Flatten), and computes what a project's stored inventory
// must change to become the wanted one (Reconcile). Both are pure and run in
// memory; the store writes their result in bulk.

// Reported is one library as a submission reports it, normalized: what the
// libraries table keeps (Lib, without ID and KeyUUID), how the library is
// recognized across projects (Identity) and what this project says of it.
type Reported struct {
	Identity   string   `json:"i"`
	Filename   string   `json:"f,omitempty"`
	Name       string   `json:"n,omitempty"`
	GroupID    string   `json:"g,omitempty"`
	ArtifactID string   `json:"a,omitempty"`
	Version    string   `json:"v,omitempty"`
	Sha1       string   `json:"s,omitempty"`
	Type       string   `json:"t,omitempty"`
	Classifier string   `json:"c,omitempty"`
	Extension  string   `json:"x,omitempty"`
	Purl       string   `json:"p,omitempty"`
	Licenses   []string `json:"l,omitempty"`
	Root       bool     `json:"r,omitempty"`
	Scope      string   `json:"sc,omitempty"`
	MatchType  string   `json:"m,omitempty"`
	SystemPath string   `json:"sp,omitempty"`
}

// Library returns the library part of r.
func (r *Reported) Library() Library {
	return Library{Filename: r.Filename, Name: r.Name, GroupID: r.GroupID, ArtifactID: r.ArtifactID, Version: r.Version,
		Sha1: r.Sha1, Type: r.Type, Classifier: r.Classifier, Extension: r.Extension, Purl: r.Purl, Licenses: r.Licenses}
}

// ReportedFile is a source file of the library Libs[Lib] of a Graph.
type ReportedFile struct {
	Lib  int32  `json:"l"`
	Sha1 string `json:"s"`
	Name string `json:"n"`
	Path string `json:"p,omitempty"`
}

// Graph is one project's reported inventory, flattened: each library once,
// the edges between them as indexes into Libs, and the source files.
type Graph struct {
	Libs  []Reported     `json:"libs"`
	Edges [][2]int32     `json:"edges,omitempty"`
	Files []ReportedFile `json:"files,omitempty"`
}

// DiffError is a submission whose inventory breaks a rule or a limit.
type DiffError struct{ Detail string }

func (e *DiffError) Error() string { return "invalid diff: " + e.Detail }

// MaxFieldLen bounds every string field of a DependencyInfo.
const MaxFieldLen = 4096

// Budget counts entries across the projects of one submission.
type Budget struct {
	Limits Limits
	used   int
}

// Used is how many dependency entries were counted so far.
func (b *Budget) Used() int { return b.used }

type flattener struct {
	g      Graph
	index  map[string]int32
	edges  map[[2]int32]struct{}
	files  map[fileKey]struct{}
	budget *Budget
}

type fileKey struct {
	lib        int32
	sha1, path string
}

// Flatten validates and flattens one project's dependency trees.
//
// The rules (docs/agent.md):
//   - A library is recognized by its sha1; without one, by its type,
//     groupId, artifactId and version; without those, by its type and
//     filename. An entry with none of these is transparent: its children
//     belong to its parent.
//   - A child entry with a sha1 and a filename or systemPath but no groupId,
//     artifactId, version or children is a source file of its parent
//     library, not a library.
//   - A library reported several times is one library; it is a root
//     (top-level dependency) when any report of it is at the top.
func Flatten(deps []DependencyInfo, budget *Budget) (Graph, error) {
	// Size the result from a count of the entries (capped by the budget,
	// so a huge tree is refused before anything large is allocated).
	n := countEntries(deps, budget.Limits.MaxLibraries+1, budget.Limits.MaxDepth+1)
	f := &flattener{index: make(map[string]int32, n), edges: make(map[[2]int32]struct{}, n), files: map[fileKey]struct{}{}, budget: budget}
	f.g.Libs = make([]Reported, 0, n)
	f.g.Edges = make([][2]int32, 0, n)
	if err := f.walk(deps, -1, 1); err != nil {
		return Graph{}, err
	}
	return f.g, nil
}

// countEntries counts the entries of a tree, stopping at max entries or
// below depth levels.
func countEntries(deps []DependencyInfo, max, depth int) int {
	n := 0
	var walk func([]DependencyInfo, int)
	walk = func(ds []DependencyInfo, d int) {
		if d > depth {
			return
		}
		for i := range ds {
			if n >= max {
				return
			}
			n++
			walk(ds[i].Children, d+1)
		}
	}
	walk(deps, 1)
	return n
}

func (f *flattener) walk(deps []DependencyInfo, parent int32, depth int) error {
	if len(deps) == 0 {
		return nil
	}
	if depth > f.budget.Limits.MaxDepth {
		return &DiffError{fmt.Sprintf("dependency tree deeper than %d levels", f.budget.Limits.MaxDepth)}
	}
	for i := range deps {
		d := &deps[i]
		f.budget.used++
		if f.budget.used > f.budget.Limits.MaxLibraries {
			return &DiffError{fmt.Sprintf("more than %d dependency entries", f.budget.Limits.MaxLibraries)}
		}
		if err := checkFields(d); err != nil {
			return err
		}
		if parent >= 0 && IsSourceFile(d) {
			name, p := fileName(d), d.SystemPath
			k := fileKey{parent, strings.ToLower(d.Sha1), p}
			if _, dup := f.files[k]; !dup {
				f.files[k] = struct{}{}
				f.g.Files = append(f.g.Files, ReportedFile{Lib: parent, Sha1: k.sha1, Name: name, Path: p})
			}
			continue
		}
		r, ok := Normalize(d)
		if !ok {
			if err := f.walk(d.Children, parent, depth+1); err != nil {
				return err
			}
			continue
		}
		idx, seen := f.index[r.Identity]
		if !seen {
			idx = int32(len(f.g.Libs))
			f.index[r.Identity] = idx
			r.Root = parent < 0
			f.g.Libs = append(f.g.Libs, r)
		} else if parent < 0 {
			f.g.Libs[idx].Root = true
		}
		if parent >= 0 && parent != idx {
			e := [2]int32{parent, idx}
			if _, dup := f.edges[e]; !dup {
				f.edges[e] = struct{}{}
				f.g.Edges = append(f.g.Edges, e)
			}
		}
		if err := f.walk(d.Children, idx, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkFields refuses an entry with a field over MaxFieldLen or with a NUL
// character, which PostgreSQL cannot store in text (both backends refuse it
// alike, when the request arrives, rather than one failing it later).
func checkFields(d *DependencyInfo) error {
	for _, s := range []string{d.GroupID, d.ArtifactID, d.Version, d.VersionID, d.Type, d.Classifier, d.Scope, d.Sha1,
		d.SystemPath, d.Filename, d.DependencyType, d.Purl, d.Name} {
		if err := checkField(s, "a dependency field"); err != nil {
			return err
		}
	}
	for _, l := range d.Licenses {
		if err := checkField(l, "a license name"); err != nil {
			return err
		}
	}
	return nil
}

func checkField(s, what string) error {
	if len(s) > MaxFieldLen {
		return &DiffError{fmt.Sprintf("%s is longer than %d bytes", what, MaxFieldLen)}
	}
	if strings.IndexByte(s, 0) >= 0 {
		return &DiffError{what + " contains a NUL character"}
	}
	return nil
}

// IsSourceFile reports whether an entry under a library names a source file
// of it rather than a library: it has a sha1 and a filename or systemPath,
// and no groupId, artifactId, version (or versionId) nor children.
func IsSourceFile(d *DependencyInfo) bool {
	return strings.TrimSpace(d.Sha1) != "" && (d.Filename != "" || d.SystemPath != "") &&
		d.GroupID == "" && d.ArtifactID == "" && d.Version == "" && d.VersionID == "" && len(d.Children) == 0
}

func fileName(d *DependencyInfo) string {
	if d.Filename != "" {
		return d.Filename
	}
	return path.Base(strings.ReplaceAll(d.SystemPath, `\`, "/"))
}

// Match types: how a library was recognized.
const (
	MatchSha1        = "SHA1"
	MatchCoordinates = "COORDINATES"
	MatchFilename    = "FILENAME"
)

// Normalize turns one DependencyInfo into a Reported library (without its
// children); ok is false for an entry that names no library.
func Normalize(d *DependencyInfo) (Reported, bool) {
	sha1 := strings.ToLower(strings.TrimSpace(d.Sha1))
	if sha1 == "" {
		for k, v := range d.Checksums {
			if strings.EqualFold(k, "SHA1") {
				sha1 = strings.ToLower(strings.TrimSpace(v))
			}
		}
	}
	artifact := d.ArtifactID
	if artifact == "" {
		artifact = d.Name
	}
	version := d.Version
	if version == "" {
		version = d.VersionID
	}
	filename := d.Filename
	if filename == "" && d.SystemPath != "" {
		filename = fileName(d)
	}
	typ := LibraryType(d.DependencyType)
	r := Reported{Filename: filename, GroupID: d.GroupID, ArtifactID: artifact, Version: version, Sha1: sha1, Type: typ,
		Classifier: d.Classifier, Purl: d.Purl, Scope: d.Scope, SystemPath: d.SystemPath}
	if len(d.Licenses) > 0 {
		r.Licenses = d.Licenses[:len(d.Licenses):len(d.Licenses)] // shared, never appended to
	}
	switch {
	case sha1 != "":
		r.Identity, r.MatchType = "sha1:"+sha1, MatchSha1
	case artifact != "":
		r.Identity, r.MatchType = "gav:"+typ+":"+d.GroupID+":"+artifact+":"+version, MatchCoordinates
	case filename != "":
		r.Identity, r.MatchType = "file:"+typ+":"+filename, MatchFilename
	default:
		return Reported{}, false
	}
	switch {
	case filename != "":
		r.Name = filename
	case artifact != "" && version != "":
		r.Name = artifact + "-" + version
	case artifact != "":
		r.Name = artifact
	default:
		r.Name = sha1
	}
	if r.ArtifactID == "" {
		r.ArtifactID = r.Name
	}
	r.Extension = d.Type
	if r.Extension == "" && filename != "" {
		if ext := path.Ext(filename); len(ext) > 1 {
			r.Extension = ext[1:]
		}
	}
	return r, true
}

// libraryTypes maps an agent's dependencyType to the library type the API
// shows; other values become VALUE_PACKAGE, no value UNKNOWN_ARTIFACT.
var libraryTypes = map[string]string{
	"MAVEN":     "MAVEN_ARTIFACT",
	"GRADLE":    "MAVEN_ARTIFACT",
	"NPM":       "NPM_PACKAGE",
	"BOWER":     "BOWER_PACKAGE",
	"GO":        "GO_PACKAGE",
	"PYTHON":    "PYTHON_PACKAGE",
	"RUBY":      "RUBY_GEM",
	"NUGET":     "NUGET_PACKAGE",
	"PHP":       "PHP_PACKAGE",
	"RPM":       "RPM_PACKAGE",
	"DEBIAN":    "DEBIAN_PACKAGE",
	"ALPINE":    "ALPINE_PACKAGE",
	"COCOAPODS": "COCOAPODS_PACKAGE",
	"HEX":       "HEX_PACKAGE",
	"R":         "R_PACKAGE",
	"CRATE":     "CRATE_PACKAGE",
	"CONDA":     "CONDA_PACKAGE",
	"CONAN":     "CONAN_PACKAGE",
	"DOCKER":    "DOCKER_PACKAGE",
	"YOCTO":     "YOCTO_PACKAGE",
	"SWIFT":     "SWIFT_PACKAGE",
}

// UnknownType is the type of a library reported without a dependencyType.
const UnknownType = "UNKNOWN_ARTIFACT"

// LibraryType maps a dependencyType to a library type (docs/agent.md).
func LibraryType(dependencyType string) string {
	t := strings.ToUpper(strings.TrimSpace(dependencyType))
	if t == "" {
		return UnknownType
	}
	if v, ok := libraryTypes[t]; ok {
		return v
	}
	var b strings.Builder
	for _, c := range t {
		if (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			b.WriteRune(c)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String() + "_PACKAGE"
}

// Row is a library as one project has it (a project_libraries row).
type Row struct {
	LibraryID  int64
	Root       bool
	Scope      string
	MatchType  string
	SystemPath string
}

// FileRow is a source file of a library in a project.
type FileRow struct {
	LibraryID int64
	Sha1      string
	Name      string
	Path      string
}

func (f FileRow) key() fileRowKey { return fileRowKey{f.LibraryID, f.Sha1, f.Path} }

type fileRowKey struct {
	lib        int64
	sha1, path string
}

// State is a project's inventory: its rows by library ID, its edges and its
// source files.
type State struct {
	Rows  map[int64]Row
	Edges map[Edge]struct{}
	Files map[fileRowKey]FileRow
}

// NewState returns an empty State.
func NewState() *State {
	return &State{Rows: map[int64]Row{}, Edges: map[Edge]struct{}{}, Files: map[fileRowKey]FileRow{}}
}

// AddFile adds a source file to s.
func (s *State) AddFile(f FileRow) { s.Files[f.key()] = f }

// Wanted builds the State a graph describes, given the library ID of each of
// its libraries (ids[i] for g.Libs[i]).
func Wanted(g *Graph, ids []int64) *State {
	s := &State{Rows: make(map[int64]Row, len(g.Libs)), Edges: make(map[Edge]struct{}, len(g.Edges)), Files: make(map[fileRowKey]FileRow, len(g.Files))}
	for i := range g.Libs {
		r := &g.Libs[i]
		id := ids[i]
		if old, ok := s.Rows[id]; ok { // two identities resolved to one library
			old.Root = old.Root || r.Root
			s.Rows[id] = old
			continue
		}
		s.Rows[id] = Row{LibraryID: id, Root: r.Root, Scope: r.Scope, MatchType: r.MatchType, SystemPath: r.SystemPath}
	}
	for _, e := range g.Edges {
		p, c := ids[e[0]], ids[e[1]]
		if p != c {
			s.Edges[Edge{p, c}] = struct{}{}
		}
	}
	for _, f := range g.Files {
		s.AddFile(FileRow{LibraryID: ids[f.Lib], Sha1: f.Sha1, Name: f.Name, Path: f.Path})
	}
	return s
}

// Changes is what turns a project's stored State into the wanted one.
type Changes struct {
	DeleteRows  []int64 // rows to delete (removed, or changed and re-inserted)
	InsertRows  []Row
	DeleteEdges []Edge
	InsertEdges []Edge
	DeleteFiles []FileRow
	InsertFiles []FileRow
	// Left are the libraries that left the project, which may now be
	// unused by every project of the organization.
	Left []int64
	// Libraries is the number of libraries the project has afterwards.
	Libraries int
}

// Empty reports whether nothing changes.
func (c *Changes) Empty() bool {
	return len(c.DeleteRows)+len(c.InsertRows)+len(c.DeleteEdges)+len(c.InsertEdges)+len(c.DeleteFiles)+len(c.InsertFiles) == 0
}

// Update modes, as the agent's updateType names them.
const (
	ModeOverride = "OVERRIDE"
	ModeAppend   = "APPEND"
	ModeRemove   = "REMOVE"
)

// Reconcile computes the changes that apply a reported State to the stored
// one: OVERRIDE makes the inventory exactly the reported one; APPEND adds
// the reported libraries, edges and files (a reported library's row takes
// the new scope, match type and path); REMOVE takes the reported libraries
// out with their edges and source files.
func Reconcile(cur, reported *State, mode string) Changes {
	target := reported
	switch mode {
	case ModeAppend:
		target = &State{Rows: make(map[int64]Row, len(cur.Rows)+len(reported.Rows)), Edges: make(map[Edge]struct{}, len(cur.Edges)+len(reported.Edges)),
			Files: make(map[fileRowKey]FileRow, len(cur.Files)+len(reported.Files))}
		for id, r := range cur.Rows {
			target.Rows[id] = r
		}
		for id, r := range reported.Rows {
			if old, ok := cur.Rows[id]; ok {
				r.Root = r.Root || old.Root
			}
			target.Rows[id] = r
		}
		for e := range cur.Edges {
			target.Edges[e] = struct{}{}
		}
		for e := range reported.Edges {
			target.Edges[e] = struct{}{}
		}
		for k, f := range cur.Files {
			target.Files[k] = f
		}
		for k, f := range reported.Files {
			target.Files[k] = f
		}
	case ModeRemove:
		target = &State{Rows: make(map[int64]Row, len(cur.Rows)), Edges: make(map[Edge]struct{}, len(cur.Edges)), Files: make(map[fileRowKey]FileRow, len(cur.Files))}
		for id, r := range cur.Rows {
			if _, gone := reported.Rows[id]; !gone {
				target.Rows[id] = r
			}
		}
		for e := range cur.Edges {
			if _, ok := target.Rows[e.Parent]; ok {
				if _, ok := target.Rows[e.Child]; ok {
					target.Edges[e] = struct{}{}
				}
			}
		}
		for k, f := range cur.Files {
			if _, ok := target.Rows[f.LibraryID]; ok {
				target.Files[k] = f
			}
		}
	}
	var c Changes
	c.Libraries = len(target.Rows)
	for id, r := range cur.Rows {
		want, ok := target.Rows[id]
		switch {
		case !ok:
			c.DeleteRows = append(c.DeleteRows, id)
			c.Left = append(c.Left, id)
		case want != r:
			c.DeleteRows = append(c.DeleteRows, id)
			c.InsertRows = append(c.InsertRows, want)
		}
	}
	for id, r := range target.Rows {
		if _, ok := cur.Rows[id]; !ok {
			c.InsertRows = append(c.InsertRows, r)
		}
	}
	for e := range cur.Edges {
		if _, ok := target.Edges[e]; !ok {
			c.DeleteEdges = append(c.DeleteEdges, e)
		}
	}
	for e := range target.Edges {
		if _, ok := cur.Edges[e]; !ok {
			c.InsertEdges = append(c.InsertEdges, e)
		}
	}
	for k, f := range cur.Files {
		want, ok := target.Files[k]
		switch {
		case !ok:
			c.DeleteFiles = append(c.DeleteFiles, f)
		case want != f:
			c.DeleteFiles = append(c.DeleteFiles, f)
			c.InsertFiles = append(c.InsertFiles, want)
		}
	}
	for k, f := range target.Files {
		if _, ok := cur.Files[k]; !ok {
			c.InsertFiles = append(c.InsertFiles, f)
		}
	}
	// In key order: deterministic, and B-tree inserts in key order touch
	// each page once instead of splitting pages at random.
	slices.Sort(c.DeleteRows)
	slices.Sort(c.Left)
	slices.SortFunc(c.InsertRows, func(a, b Row) int { return cmp.Compare(a.LibraryID, b.LibraryID) })
	slices.SortFunc(c.InsertEdges, compareEdges)
	slices.SortFunc(c.DeleteEdges, compareEdges)
	slices.SortFunc(c.InsertFiles, compareFiles)
	slices.SortFunc(c.DeleteFiles, compareFiles)
	return c
}

func compareEdges(a, b Edge) int {
	if c := cmp.Compare(a.Parent, b.Parent); c != 0 {
		return c
	}
	return cmp.Compare(a.Child, b.Child)
}

func compareFiles(a, b FileRow) int {
	if c := cmp.Compare(a.LibraryID, b.LibraryID); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Sha1, b.Sha1); c != 0 {
		return c
	}
	return cmp.Compare(a.Path, b.Path)
}

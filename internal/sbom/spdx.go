package sbom

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"

	"github.com/tallyhq/tally/internal/inventory"
)

// Relationship kinds as edges: parentToChild means A is the parent of B
// (A DEPENDS_ON B, A CONTAINS B); childToParent means B is the parent of A
// (A DEPENDENCY_OF B and its scoped variants, A CONTAINED_BY B).
const (
	parentToChild = 1
	childToParent = 2
)

var spdxEdgeKinds = map[string]int{
	common.TypeRelationshipDependsOn:            parentToChild,
	common.TypeRelationshipContains:             parentToChild,
	common.TypeRelationshipDependencyOf:         childToParent,
	common.TypeRelationshipContainedBy:          childToParent,
	common.TypeRelationshipBuildDependencyOf:    childToParent,
	common.TypeRelationshipDevDependencyOf:      childToParent,
	common.TypeRelationshipOptionalDependencyOf: childToParent,
	common.TypeRelationshipProvidedDependencyOf: childToParent,
	common.TypeRelationshipTestDependencyOf:     childToParent,
	common.TypeRelationshipRuntimeDependencyOf:  childToParent,
}

// parseSPDX converts an SPDX 2.x JSON document (2.3 natively; 2.1 and 2.2
// through the library's conversion to 2.3).
//
// Libraries are the packages, and the files some package CONTAINS (they
// become that package's source files). DEPENDS_ON, CONTAINS and the
// *DEPENDENCY_OF family give the edges. When the document DESCRIBES exactly
// one package and that package has dependencies or contents, it is the
// subject, the project itself: no library, its direct dependencies are the
// roots. Otherwise the described packages are the first roots.
func parseSPDX(ctx context.Context, data []byte, version string, limits Limits) (*BOM, error) {
	var doc spdx.Document
	switch version {
	case "SPDX-2.3":
		// The 2.3 model's own JSON decoding, without the generic reader's
		// second pass through an untyped map.
		if err := json.Unmarshal(data, &doc); err != nil {
			return nil, invalid(err, "malformed SPDX document")
		}
	case "SPDX-2.1", "SPDX-2.2":
		if err := spdxjson.ReadInto(bytes.NewReader(data), &doc); err != nil {
			return nil, invalid(err, "malformed SPDX document")
		}
	default:
		return nil, &Error{Code: CodeUnsupported, Message: "unsupported spdxVersion " + strings.TrimSpace(version) + " (SPDX-2.1, 2.2 and 2.3 JSON are supported)"}
	}
	out := &BOM{Format: FormatSPDX, SpecVersion: strings.TrimPrefix(version, "SPDX-"), Name: doc.DocumentName}
	g := newGraph(limits)

	docID := string(doc.SPDXIdentifier)
	packages := map[string]*spdx.Package{}
	for _, p := range doc.Packages {
		if p != nil {
			if _, dup := packages[string(p.PackageSPDXIdentifier)]; !dup {
				packages[string(p.PackageSPDXIdentifier)] = p
			}
		}
	}
	files := map[string]*spdx.File{}
	addFiles := func(list []*spdx.File) {
		for _, f := range list {
			if f != nil {
				if _, dup := files[string(f.FileSPDXIdentifier)]; !dup {
					files[string(f.FileSPDXIdentifier)] = f
				}
			}
		}
	}
	addFiles(doc.Files)
	for _, p := range doc.Packages {
		if p != nil {
			addFiles(p.Files)
		}
	}

	// Edges as parent → child element ids, and what the document describes.
	type rel struct {
		parent, child string
		optional      bool
		contains      bool
	}
	var rels []rel
	var described []string
	local := func(id common.DocElementID) (string, bool) {
		if id.SpecialID != "" || id.DocumentRefID != "" || id.ElementRefID == "" {
			return "", false
		}
		return string(id.ElementRefID), true
	}
	for _, r := range doc.Relationships {
		if r == nil {
			continue
		}
		a, okA := local(r.RefA)
		b, okB := local(r.RefB)
		kind := strings.ToUpper(strings.TrimSpace(r.Relationship))
		switch kind {
		case common.TypeRelationshipDescribe:
			if okA && a == docID && okB {
				described = append(described, b)
			}
			continue
		case common.TypeRelationshipDescribeBy:
			if okA && okB && b == docID {
				described = append(described, a)
			}
			continue
		}
		dir, ok := spdxEdgeKinds[kind]
		if !ok {
			continue
		}
		if !okA || !okB {
			g.stats.UnresolvedRefs++
			continue
		}
		parent, child := a, b
		if dir == childToParent {
			parent, child = b, a
		}
		rels = append(rels, rel{parent: parent, child: child,
			optional: kind == common.TypeRelationshipOptionalDependencyOf,
			contains: kind == common.TypeRelationshipContains || kind == common.TypeRelationshipContainedBy})
	}

	// The subject: the one described package, when it has dependencies or
	// contents of its own.
	subject := ""
	var describedPkgs []string
	for _, id := range described {
		if packages[id] != nil {
			describedPkgs = append(describedPkgs, id)
		}
	}
	if len(describedPkgs) == 1 {
		for _, r := range rels {
			if r.parent == describedPkgs[0] {
				subject = describedPkgs[0]
				break
			}
		}
	}
	if subject != "" {
		p := packages[subject]
		out.Name, out.Version = p.PackageName, p.PackageVersion
	}

	// Nodes: the packages in document order, then the files some package
	// (other than the subject) contains.
	for _, p := range doc.Packages {
		if p == nil || string(p.PackageSPDXIdentifier) == subject {
			continue
		}
		if _, seen := g.node(string(p.PackageSPDXIdentifier)); seen {
			continue
		}
		if err := g.add(string(p.PackageSPDXIdentifier), spdxPackage(p)); err != nil {
			return nil, err
		}
	}
	for _, r := range rels {
		if !r.contains || r.parent == subject || packages[r.parent] == nil {
			continue
		}
		if f := files[r.child]; f != nil {
			if err := g.add(r.child, spdxFile(f)); err != nil {
				return nil, err
			}
		}
	}

	for _, r := range rels {
		if r.child == subject {
			continue // something depending on the project itself
		}
		to, ok := g.node(r.child)
		if !ok {
			if files[r.child] == nil {
				g.stats.UnresolvedRefs++
			}
			continue
		}
		if r.optional {
			g.libs[to].Optional = true
		}
		if r.parent == subject {
			g.root(to)
			continue
		}
		from, ok := g.node(r.parent)
		if !ok {
			if files[r.parent] == nil {
				g.stats.UnresolvedRefs++
			}
			continue
		}
		if err := g.edge(from, to); err != nil {
			return nil, err
		}
	}
	if subject == "" {
		for _, id := range describedPkgs {
			if i, ok := g.node(id); ok {
				g.root(i)
			}
		}
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("convert SPDX: %w", err)
	}
	deps, err := g.tree()
	if err != nil {
		return nil, err
	}
	out.Dependencies = deps
	out.Stats = g.stats
	return out, nil
}

// noAssertion reports whether an SPDX value says nothing.
func noAssertion(s string) bool {
	s = strings.TrimSpace(s)
	return s == "" || s == "NOASSERTION" || s == "NONE"
}

func spdxPackage(p *spdx.Package) inventory.DependencyInfo {
	d := inventory.DependencyInfo{
		ArtifactID: p.PackageName,
		Name:       p.PackageName,
		Filename:   p.PackageFileName,
	}
	if !noAssertion(p.PackageVersion) {
		d.Version = p.PackageVersion
	}
	for _, ref := range p.PackageExternalReferences {
		if ref == nil || !strings.EqualFold(ref.RefType, "purl") {
			continue
		}
		if pu, err := parsePurl(ref.Locator); err == nil {
			d.Purl = ref.Locator
			applyPurl(&d, pu)
			break
		}
	}
	for _, c := range p.PackageChecksums {
		addHash(&d, string(c.Algorithm), c.Value)
	}
	switch {
	case !noAssertion(p.PackageLicenseConcluded):
		addLicense(&d, p.PackageLicenseConcluded)
	case !noAssertion(p.PackageLicenseDeclared):
		addLicense(&d, p.PackageLicenseDeclared)
	}
	return d
}

// spdxFile converts a file a package contains: evidence named by its file
// name and path, identified by its SHA-1.
func spdxFile(f *spdx.File) inventory.DependencyInfo {
	p := strings.TrimPrefix(f.FileName, "./")
	d := inventory.DependencyInfo{Filename: path.Base(p), SystemPath: p}
	for _, c := range f.Checksums {
		addHash(&d, string(c.Algorithm), c.Value)
	}
	if d.Sha1 == "" {
		// Without a SHA-1 it cannot be matched as evidence: a library
		// named by its file.
		d.ArtifactID = d.Filename
		d.Name = d.Filename
	}
	return d
}

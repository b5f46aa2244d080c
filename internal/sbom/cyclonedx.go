package sbom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/tallyhq/tally/internal/inventory"
)

// parseCycloneDX converts a CycloneDX JSON BOM.
//
// Libraries are the components (nested components included; a component
// contains its nested components as children). The metadata component is
// the subject, the project itself: it is no library, and its direct
// dependencies (and nested components) are the roots. The dependencies
// section gives the edges; refs it names that are no component are ignored.
func parseCycloneDX(ctx context.Context, data []byte, limits Limits) (*BOM, error) {
	// The library's JSON decoder reads its input into memory and unmarshals
	// it into the BOM model; the document is in memory already, so it is
	// unmarshalled into the same model without that copy.
	var bom cdx.BOM
	if err := json.Unmarshal(data, &bom); err != nil {
		if errors.Is(err, cdx.ErrInvalidSpecVersion) {
			return nil, &Error{Code: CodeUnsupported, Message: "unsupported CycloneDX specVersion (1.0 to 1.7 are known)", Err: err}
		}
		return nil, invalid(err, "malformed CycloneDX document")
	}
	out := &BOM{Format: FormatCycloneDX, SpecVersion: bom.SpecVersion.String()}
	g := newGraph(limits)

	subjectRef := ""
	var subjectChildren []cdx.Component
	if bom.Metadata != nil && bom.Metadata.Component != nil {
		subj := bom.Metadata.Component
		subjectRef = subj.BOMRef
		out.Name = subj.Name
		out.Version = subj.Version
		if subj.Components != nil {
			subjectChildren = *subj.Components
		}
	}

	// Components, depth first; a nested component is contained by its
	// parent. anon numbers components without a bom-ref.
	anon := 0
	type item struct {
		c      *cdx.Component
		parent int // -1 for top level
		root   bool
	}
	var work []item
	push := func(list []cdx.Component, parent int, root bool) {
		for i := len(list) - 1; i >= 0; i-- {
			work = append(work, item{&list[i], parent, root})
		}
	}
	if bom.Components != nil {
		push(*bom.Components, -1, false)
	}
	push(subjectChildren, -1, true)
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		c := it.c
		ref := c.BOMRef
		if ref == "" {
			anon++
			ref = "\x00anonymous-" + strconv.Itoa(anon)
		}
		if subjectRef != "" && ref == subjectRef {
			// The subject listed again among the components.
			if c.Components != nil {
				push(*c.Components, -1, true)
			}
			continue
		}
		d, ok := cycloneDXLibrary(c)
		if !ok {
			g.stats.Skipped++
			continue
		}
		if _, seen := g.node(ref); !seen {
			if err := g.add(ref, d); err != nil {
				return nil, err
			}
		}
		idx, _ := g.node(ref)
		if it.parent >= 0 {
			if err := g.edge(it.parent, idx); err != nil {
				return nil, err
			}
		}
		if it.root {
			g.root(idx)
		}
		if c.Components != nil {
			push(*c.Components, idx, false)
		}
	}

	if bom.Dependencies != nil {
		for _, dep := range *bom.Dependencies {
			if dep.Dependencies == nil {
				continue
			}
			from, fromOK := g.node(dep.Ref)
			isSubject := subjectRef != "" && dep.Ref == subjectRef
			if !fromOK && !isSubject {
				g.stats.UnresolvedRefs++
				continue
			}
			for _, ref := range *dep.Dependencies {
				to, ok := g.node(ref)
				if !ok {
					if ref != subjectRef {
						g.stats.UnresolvedRefs++
					}
					continue
				}
				if isSubject {
					g.root(to)
					continue
				}
				if err := g.edge(from, to); err != nil {
					return nil, err
				}
			}
		}
	}

	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("convert CycloneDX: %w", err)
	}
	deps, err := g.tree()
	if err != nil {
		return nil, err
	}
	out.Dependencies = deps
	out.Stats = g.stats
	return out, nil
}

// cycloneDXLibrary converts one component. ok is false for a component with
// nothing to name it by.
func cycloneDXLibrary(c *cdx.Component) (inventory.DependencyInfo, bool) {
	d := inventory.DependencyInfo{
		GroupID:    c.Group,
		ArtifactID: c.Name,
		Version:    c.Version,
		Name:       c.Name,
		Optional:   c.Scope == cdx.ScopeOptional,
	}
	if c.PackageURL != "" {
		d.Purl = c.PackageURL
		if p, err := parsePurl(c.PackageURL); err == nil {
			applyPurl(&d, p)
		}
	}
	if c.Type == cdx.ComponentTypeFile {
		// A file is evidence: named by its file name, identified by its
		// hash. Under a library it is that library's source file.
		d.Filename = c.Name
		if d.Purl == "" {
			d.ArtifactID = ""
			d.GroupID = ""
		}
	}
	if c.Hashes != nil {
		for _, h := range *c.Hashes {
			addHash(&d, string(h.Algorithm), h.Value)
		}
	}
	if c.Type == cdx.ComponentTypeFile && d.ArtifactID == "" && d.Sha1 == "" {
		// A file without a SHA-1 cannot be evidence; keep it as a library.
		d.ArtifactID = c.Name
	}
	if c.Licenses != nil {
		for _, l := range *c.Licenses {
			switch {
			case l.Expression != "":
				addLicense(&d, l.Expression)
			case l.License != nil && l.License.ID != "":
				addLicense(&d, l.License.ID)
			case l.License != nil && l.License.Name != "":
				addLicense(&d, l.License.Name)
			}
		}
	}
	if d.Name == "" {
		d.Name = d.ArtifactID
	}
	if d.Name == "" {
		d.Name = d.Filename
	}
	if strings.TrimSpace(d.Name) == "" && d.Sha1 == "" {
		return d, false
	}
	return d, true
}

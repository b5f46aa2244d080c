package synth

import (
	"encoding/json"
	"testing"
)

func TestProjectShape(t *testing.T) {
	for _, eco := range []Ecosystem{Maven, NPM} {
		pool := NewPool(eco, 20000, 1)
		p := pool.NewProject("p", 10000, 2)
		if len(p.Libs) != 10000 {
			t.Fatalf("%s: %d libraries, want 10000", eco.Name, len(p.Libs))
		}
		edges := p.Edges()
		if per := float64(edges) / float64(len(p.Libs)); per < 1 || per > 3 {
			t.Errorf("%s: %.2f edges per library, want 1-3", eco.Name, per)
		}
		// Every library appears in the rendered tree, once expanded.
		seen := map[string]bool{}
		depth := 0
		var walk func(ds []any, d int)
		deps := p.Dependencies()
		b, _ := json.Marshal(deps)
		var generic []any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		walk = func(ds []any, d int) {
			depth = max(depth, d)
			for _, x := range ds {
				m := x.(map[string]any)
				seen[m["sha1"].(string)] = true
				if c, ok := m["children"].([]any); ok {
					walk(c, d+1)
				}
			}
		}
		walk(generic, 1)
		if len(seen) != 10000 {
			t.Errorf("%s: %d distinct libraries in the tree, want 10000", eco.Name, len(seen))
		}
		if depth != eco.Depth {
			t.Errorf("%s: depth %d, want %d", eco.Name, depth, eco.Depth)
		}
		// Same seed, same project.
		q := pool.NewProject("p", 10000, 2)
		if q.Libs[123] != p.Libs[123] || q.Edges() != edges {
			t.Errorf("%s: not deterministic", eco.Name)
		}
		m := p.Mutate(0.05, 3)
		changed := 0
		for i := range p.Libs {
			if p.Libs[i] != m.Libs[i] {
				changed++
			}
		}
		if changed != 500 {
			t.Errorf("%s: mutate changed %d, want 500", eco.Name, changed)
		}
	}
}

func TestCycloneDX(t *testing.T) {
	pool := NewPool(NPM, 3000, 1)
	p := pool.NewProject("app", 1115, 2)
	b, err := CycloneDX(p)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		BOMFormat  string
		Components []struct {
			BOMRef string `json:"bom-ref"`
			Purl   string
		}
		Dependencies []struct {
			Ref       string
			DependsOn []string
		}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.BOMFormat != "CycloneDX" || len(doc.Components) != 1115 || len(doc.Dependencies) != 1116 {
		t.Fatalf("format %q, %d components, %d dependency entries", doc.BOMFormat, len(doc.Components), len(doc.Dependencies))
	}
	refs := map[string]bool{"root": true}
	for _, c := range doc.Components {
		refs[c.BOMRef] = true
	}
	edges := 0
	for _, d := range doc.Dependencies {
		for _, r := range d.DependsOn {
			if !refs[r] {
				t.Fatalf("%s depends on unknown %s", d.Ref, r)
			}
			edges++
		}
	}
	if want := p.Edges() + len(p.Roots); edges != want {
		t.Fatalf("%d edges, want %d", edges, want)
	}
}

package synth

import (
	"encoding/json"
	"fmt"
)

// CycloneDX renders the project as a CycloneDX 1.5 JSON SBOM: one component
// per library (purl, SHA-1, licence) and the dependency graph, with the
// project as the metadata component depending on its top-level libraries.
func CycloneDX(p *Project) ([]byte, error) {
	type hash struct {
		Alg     string `json:"alg"`
		Content string `json:"content"`
	}
	type licence struct {
		License struct {
			ID string `json:"id"`
		} `json:"license"`
	}
	type component struct {
		Type     string    `json:"type"`
		BOMRef   string    `json:"bom-ref"`
		Group    string    `json:"group,omitempty"`
		Name     string    `json:"name"`
		Version  string    `json:"version"`
		Purl     string    `json:"purl"`
		Hashes   []hash    `json:"hashes"`
		Licenses []licence `json:"licenses"`
	}
	type dependency struct {
		Ref       string   `json:"ref"`
		DependsOn []string `json:"dependsOn"`
	}
	ref := func(id int) string { return fmt.Sprintf("lib-%d", id) }
	purl := func(l Library) string {
		if p.pool.eco.Name == "npm" {
			return fmt.Sprintf("pkg:npm/%s@%s", l.ArtifactID, l.Version)
		}
		return fmt.Sprintf("pkg:maven/%s/%s@%s", l.GroupID, l.ArtifactID, l.Version)
	}
	comps := make([]component, 0, len(p.Libs))
	deps := []dependency{{Ref: "root", DependsOn: []string{}}}
	for _, r := range p.Roots {
		deps[0].DependsOn = append(deps[0].DependsOn, ref(r))
	}
	for _, id := range p.Libs {
		l := p.pool.Library(id)
		c := component{Type: "library", BOMRef: ref(id), Group: l.GroupID, Name: l.ArtifactID, Version: l.Version,
			Purl: purl(l), Hashes: []hash{{"SHA-1", l.Sha1}}, Licenses: []licence{{}}}
		c.Licenses[0].License.ID = l.License
		comps = append(comps, c)
		d := dependency{Ref: ref(id), DependsOn: []string{}}
		for _, c := range p.Children[id] {
			d.DependsOn = append(d.DependsOn, ref(c))
		}
		deps = append(deps, d)
	}
	doc := map[string]any{
		"bomFormat":   "CycloneDX",
		"specVersion": "1.5",
		"version":     1,
		"metadata": map[string]any{
			"component": map[string]any{"type": "application", "bom-ref": "root", "name": p.Name, "version": "1.0.0"},
		},
		"components":   comps,
		"dependencies": deps,
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("render CycloneDX: %w", err)
	}
	return b, nil
}

package sbom

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no input panics, every refusal is an *Error, and every
// accepted document converts to a tree with one entry per root and edge.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"shop-backend.cdx.json", "inventory-service.spdx.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.4","components":[{"bom-ref":"a","name":"a","purl":"pkg:/@"}],"dependencies":[{"ref":"a","dependsOn":["a"]}]}`))
	f.Add([]byte(`{"spdxVersion":"SPDX-2.2","SPDXID":"SPDXRef-DOCUMENT","packages":[{"SPDXID":"SPDXRef-a","name":"a"}],"relationships":[{"spdxElementId":"SPDXRef-a","relationshipType":"CONTAINS","relatedSpdxElement":"SPDXRef-a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		bom, err := Parse(context.Background(), data, Limits{MaxComponents: 2000, MaxEntries: 5000, MaxDepth: 50})
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error %v is no *Error", err)
			}
			return
		}
		_, expanded, entries := walk(t, bom.Dependencies)
		if entries != bom.Stats.Roots+bom.Stats.Edges || len(expanded) > bom.Stats.Components {
			t.Fatalf("entries %d, expanded %d, stats %+v", entries, len(expanded), bom.Stats)
		}
	})
}

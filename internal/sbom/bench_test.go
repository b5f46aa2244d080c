package sbom

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/spdx/tools-golang/spdx"
	"github.com/spdx/tools-golang/spdx/v2/common"
)

// generateSPDX writes an SPDX 2.3 JSON document of n packages in ten
// layers, each depending on up to three packages of later layers, with the
// spdx library's model and encoding/json.
func generateSPDX(t testing.TB, n int, seed uint64) []byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed+1))
	id := func(i int) common.ElementID { return common.ElementID(fmt.Sprintf("pkg-%d", i)) }
	doc := spdx.Document{
		SPDXVersion: spdx.Version, DataLicense: spdx.DataLicense, SPDXIdentifier: "DOCUMENT",
		DocumentName: "generated", DocumentNamespace: "https://example.com/generated",
		CreationInfo: &spdx.CreationInfo{Created: "2026-01-01T00:00:00Z", Creators: []common.Creator{{CreatorType: "Tool", Creator: "test"}}},
	}
	doc.Packages = append(doc.Packages, &spdx.Package{PackageName: "app", PackageSPDXIdentifier: "app", PackageDownloadLocation: "NONE"})
	rel := func(a, b common.ElementID, typ string) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{RefA: common.DocElementID{ElementRefID: a}, RefB: common.DocElementID{ElementRefID: b}, Relationship: typ})
	}
	rel("DOCUMENT", "app", common.TypeRelationshipDescribe)
	for i := 0; i < n; i++ {
		doc.Packages = append(doc.Packages, &spdx.Package{
			PackageName: fmt.Sprintf("lib-%d", i), PackageSPDXIdentifier: id(i), PackageVersion: "1.0",
			PackageDownloadLocation: "NOASSERTION", PackageLicenseConcluded: "MIT",
			PackageChecksums: []common.Checksum{{Algorithm: common.SHA1, Value: fmt.Sprintf("%040x", i+1)}},
			PackageExternalReferences: []*spdx.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl",
				Locator: fmt.Sprintf("pkg:pypi/lib-%d@1.0", i)}},
		})
		if i < 30 {
			rel("app", id(i), common.TypeRelationshipDependsOn)
		}
		next := (i*10/n + 1) * n / 10
		for k := rng.IntN(4); k > 0 && next < n; k-- {
			rel(id(i), id(next+rng.IntN(n-next)), common.TypeRelationshipDependsOn)
		}
	}
	b, err := json.Marshal(&doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGeneratedSPDX(t *testing.T) {
	const n = 5_000
	bom, err := Parse(context.Background(), generateSPDX(t, n, 5), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if bom.Name != "app" || bom.Stats.Components != n || bom.Stats.CycleEdges != 0 {
		t.Errorf("name %q, stats %+v", bom.Name, bom.Stats)
	}
	_, expanded, entries := walk(t, bom.Dependencies)
	if len(expanded) != n || entries != bom.Stats.Roots+bom.Stats.Edges {
		t.Errorf("expanded %d, entries %d, stats %+v", len(expanded), entries, bom.Stats)
	}
}

// The benchmarks parse and convert generated documents; b.SetBytes makes
// `go test -bench Parse -benchmem` report MB/s and allocations.
func BenchmarkParseCycloneDX(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		data, _ := generateBOM(b, n, 30, n/100, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(context.Background(), data, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParseSPDX(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 50_000} {
		data := generateSPDX(b, n, 1)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Parse(context.Background(), data, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

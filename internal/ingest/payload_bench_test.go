package ingest

import (
	"testing"

	"github.com/tallyhq/tally/internal/inventory"
)

func BenchmarkPayload10k(b *testing.B) {
	_, info := benchProject(10000, 42)
	g, err := inventory.Flatten(info.Dependencies, &inventory.Budget{Limits: inventory.DefaultLimits})
	if err != nil {
		b.Fatal(err)
	}
	pl := &payload{Projects: []inventory.Graph{g}}
	enc, err := encodePayload(pl)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := encodePayload(pl); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := decodePayload(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("flatten", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := inventory.Flatten(info.Dependencies, &inventory.Budget{Limits: inventory.DefaultLimits}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Logf("payload %d bytes", len(enc))
}

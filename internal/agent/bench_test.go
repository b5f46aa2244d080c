package agent_test

import (
	"encoding/json"
	"testing"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/inventory"
)

func benchDiff(b *testing.B, n int) []byte {
	pool := synth.NewPool(synth.Maven, n*2, 1)
	raw, err := json.Marshal([]inventory.ProjectInfo{pool.NewProject("bench", n, 1).ProjectInfo()})
	if err != nil {
		b.Fatal(err)
	}
	return raw
}

// BenchmarkDecodeDiff10k: a 10,000-library diff from the form value to
// the parsed projects, in both encodings.
func BenchmarkDecodeDiff10k(b *testing.B) {
	raw := benchDiff(b, 10000)
	for name, diff := range map[string]string{"plain": string(raw), "gzip": gzipBase64(b, raw)} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				js, err := agent.DecodeDiff(diff, agent.DefaultLimits.MaxDiffBytes)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := agent.ParseProjects(js); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

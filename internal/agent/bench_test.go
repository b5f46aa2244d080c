package agent_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/tallytest"
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

// BenchmarkAgentUpdate measures an agent UPDATE (OVERRIDE, Base64 of gzip)
// of a new project over loopback HTTP, from POST to FINISHED as
// getRequestState reports it (polled every 5 ms), on a real server.
func BenchmarkAgentUpdate(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("libs=%d", n), func(b *testing.B) {
			s := tallytest.Start(b)
			pool := synth.NewPool(synth.Maven, n*2, 1)
			diffs := make([]string, b.N)
			for i := range diffs {
				raw, err := json.Marshal([]inventory.ProjectInfo{pool.NewProject(fmt.Sprintf("p%d", i), n, uint64(i)).ProjectInfo()})
				if err != nil {
					b.Fatal(err)
				}
				diffs[i] = gzipBase64(b, raw)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				form := updateForm(s.Admin.OrgToken, s.Admin.UserKey, "Bench", "", diffs[i])
				status, body := s.Post("/agent", "application/x-www-form-urlencoded", []byte(form.Encode()))
				var env agent.Envelope
				if err := json.Unmarshal(body, &env); err != nil || status != 200 || env.Status != agent.StatusOK {
					b.Fatalf("update: %d %s", status, body)
				}
				for {
					m := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken, "requestToken": env.RequestToken})
					if m["requestState"] == "FINISHED" {
						break
					}
					if m["requestState"] != "IN_PROGRESS" && m["requestState"] != "UPDATED" {
						b.Fatalf("request %v", m)
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "libs/s")
		})
	}
}

package api_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/tallytest"
)

// BenchmarkReads measures the inventory reads end to end (HTTP, auth,
// queries, encoding) on a real server holding a project ingested through
// /agent; with -cpuprofile the profile covers the server too, as it runs in
// the benchmark's process.
func BenchmarkReads(b *testing.B) {
	for _, size := range []int{1000, 10000} {
		s := tallytest.Start(b)
		pool := synth.NewPool(synth.Maven, 3*size, 1)
		p := pool.NewProject("bench", size, 2)
		diff, err := json.Marshal([]inventory.ProjectInfo{p.ProjectInfo()})
		if err != nil {
			b.Fatal(err)
		}
		agentUpdate(b, s, "OVERRIDE", string(diff))
		projects := s.MustCall(map[string]any{"requestType": "getAllProjects", "userKey": s.Admin.UserKey,
			"productToken": s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey,
				"orgToken": s.Admin.OrgToken})["products"].([]any)[0].(map[string]any)["productToken"]})
		token := projects["projects"].([]any)[0].(map[string]any)["projectToken"]
		for _, rt := range []string{"getProjectHierarchy", "getProjectInventory", "getProjectState", "getProjectTags"} {
			req := map[string]any{"requestType": rt, "userKey": s.Admin.UserKey, "projectToken": token}
			b.Run(fmt.Sprintf("%s/libraries=%d", rt, size), func(b *testing.B) {
				for b.Loop() {
					s.CallRaw(req)
				}
			})
		}
	}
}

package api_test

import (
	"testing"

	"github.com/tallyhq/tally/internal/tallytest"
)

func TestSmokeCreateProductAndTags(t *testing.T) {
	s := tallytest.Start(t)
	pt := s.CreateProduct("Alpha")
	s.MustCall(map[string]any{"requestType": "saveProductTag", "userKey": s.Admin.UserKey, "productToken": pt, "tagKey": "k", "tagValue": "v1"})
	s.MustCall(map[string]any{"requestType": "saveProductTag", "userKey": s.Admin.UserKey, "productToken": pt, "tagKey": "k", "tagValue": "v2"})
	m := s.MustCall(map[string]any{"requestType": "getProductTags", "userKey": s.Admin.UserKey, "productToken": pt})
	tags := m["productTags"].([]any)[0].(map[string]any)["tags"].(map[string]any)
	if got := tags["k"].([]any); len(got) != 2 || got[0] != "v1" || got[1] != "v2" {
		t.Fatalf("tags = %v, want k: [v1 v2]", tags)
	}
	s.Restart()
	m = s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	if n := len(m["products"].([]any)); n != 1 {
		t.Fatalf("after restart: %d products, want 1", n)
	}
}

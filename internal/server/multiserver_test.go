package server_test

import (
	"fmt"
	"testing"

	"github.com/tallyhq/tally/internal/tallytest"
)

// Three servers starting together on one new database migrate it once,
// create the bootstrap organization once (StartCluster checks that exactly
// one wrote bootstrap.json) and then share everything: what one writes, the
// others read, and a name taken through one is taken for all.
func TestClusterStartsOnceAndSharesState(t *testing.T) {
	servers := tallytest.StartCluster(t, 3)
	admin := servers[0].Admin
	for i, s := range servers {
		pt := s.CreateProduct(fmt.Sprintf("from-server-%d", i))
		s.CreateProject(pt, "p")
	}
	for i, s := range servers {
		m := s.MustCall(map[string]any{"requestType": "getOrganizationDetails", "userKey": admin.UserKey, "orgToken": admin.OrgToken})
		if m["orgName"] != admin.OrgName {
			t.Errorf("server %d: organization %v, want %q", i, m["orgName"], admin.OrgName)
		}
		m = s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": admin.UserKey, "orgToken": admin.OrgToken})
		if n := len(m["products"].([]any)); n != len(servers) {
			t.Errorf("server %d sees %d products, want %d: %v", i, n, len(servers), m)
		}
		m = s.Call(map[string]any{"requestType": "createProduct", "userKey": admin.UserKey, "orgToken": admin.OrgToken, "productName": "from-server-0"})
		if m["errorCode"] != float64(2001) {
			t.Errorf("server %d: creating a name taken through server 0: %v, want errorCode 2001", i, m)
		}
	}
}

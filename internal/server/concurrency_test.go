package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/tallytest"
)

// These tests run on SQLite, and on PostgreSQL when TALLY_TEST_POSTGRES is
// set: many clients write the same rows at once, and no write may be lost
// and no uniqueness rule broken.

const concurrentClients = 32

// apiClient posts JSON API requests from many goroutines; errors are
// returned, not reported with t.Fatal, which only the test goroutine may
// call.
type apiClient struct {
	url    string
	client *http.Client
}

func newAPIClient(s *tallytest.Server) *apiClient {
	return &apiClient{url: s.URL + "/api/v1.4", client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{MaxIdleConnsPerHost: concurrentClients},
	}}
}

func (c *apiClient) call(req map[string]any) (map[string]any, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	resp, err := c.client.Post(c.url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("post %s: %w", req["requestType"], err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", req["requestType"], err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d: %s", req["requestType"], resp.StatusCode, b)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: response is not a JSON object: %w: %s", req["requestType"], err, b)
	}
	return m, nil
}

// together runs fn(i) for i in [0, n) in n goroutines released at the same
// moment, and returns their results in order of i.
func together[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestConcurrentTagSavesLoseNothing(t *testing.T) {
	s := tallytest.Start(t)
	pt := s.CreateProduct("Tagged")
	jt := s.CreateProject(pt, "tagged-project")
	c := newAPIClient(s)

	// Every client saves one value of a shared key, one key of its own and
	// one pair that all clients save, on the product and on the project.
	errs := together(concurrentClients, func(i int) error {
		for _, req := range []map[string]any{
			{"requestType": "saveProductTag", "productToken": pt, "tagKey": "shared", "tagValue": fmt.Sprintf("v%02d", i)},
			{"requestType": "saveProjectTag", "projectToken": jt, "tagKey": "shared", "tagValue": fmt.Sprintf("v%02d", i)},
			{"requestType": "saveProductTag", "productToken": pt, "tagKey": fmt.Sprintf("own%02d", i), "tagValue": "x"},
			{"requestType": "saveProjectTag", "projectToken": jt, "tagKey": fmt.Sprintf("own%02d", i), "tagValue": "x"},
			{"requestType": "saveProductTag", "productToken": pt, "tagKey": "same", "tagValue": "same"},
			{"requestType": "saveProjectTag", "projectToken": jt, "tagKey": "same", "tagValue": "same"},
		} {
			req["userKey"] = s.Admin.UserKey
			m, err := c.call(req)
			if err != nil {
				return err
			}
			if _, bad := m["errorCode"]; bad {
				return fmt.Errorf("%s by client %d: %v", req["requestType"], i, m)
			}
		}
		return nil
	})
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}

	check := func(what string, tags map[string]any) {
		t.Helper()
		var shared []string
		for _, v := range tags["shared"].([]any) {
			shared = append(shared, v.(string))
		}
		sort.Strings(shared)
		if len(shared) != concurrentClients {
			t.Errorf("%s: shared has %d values, want %d: %v", what, len(shared), concurrentClients, shared)
		}
		for i, v := range shared {
			if want := fmt.Sprintf("v%02d", i); i < concurrentClients && v != want {
				t.Errorf("%s: shared[%d] = %q, want %q (lost or duplicated write)", what, i, v, want)
				break
			}
		}
		for i := 0; i < concurrentClients; i++ {
			k := fmt.Sprintf("own%02d", i)
			if v, ok := tags[k].([]any); !ok || len(v) != 1 || v[0] != "x" {
				t.Errorf("%s: %s = %v, want [x]", what, k, tags[k])
			}
		}
		if v, ok := tags["same"].([]any); !ok || len(v) != 1 {
			t.Errorf("%s: same = %v, want one value saved %d times", what, tags["same"], concurrentClients)
		}
		if want := concurrentClients + 2; len(tags) != want {
			t.Errorf("%s: %d keys, want %d", what, len(tags), want)
		}
	}
	m := s.MustCall(map[string]any{"requestType": "getProductTags", "userKey": s.Admin.UserKey, "productToken": pt})
	check("product", m["productTags"].([]any)[0].(map[string]any)["tags"].(map[string]any))
	m = s.MustCall(map[string]any{"requestType": "getProjectTags", "userKey": s.Admin.UserKey, "projectToken": jt})
	check("project", m["projectTags"].([]any)[0].(map[string]any)["tags"].(map[string]any))
}

// sameNameRace has every client send req at once and checks that exactly
// one succeeds and every other gets wantCode.
func sameNameRace(t *testing.T, s *tallytest.Server, req map[string]any, wantCode float64) {
	t.Helper()
	c := newAPIClient(s)
	type result struct {
		m   map[string]any
		err error
	}
	results := together(concurrentClients, func(int) result {
		m, err := c.call(req)
		return result{m, err}
	})
	ok := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Errorf("client %d: %v", i, r.err)
		case r.m["errorCode"] == nil:
			ok++
		case r.m["errorCode"] != wantCode:
			t.Errorf("client %d: errorCode %v (%v), want %v", i, r.m["errorCode"], r.m["errorMessage"], wantCode)
		}
	}
	if ok != 1 {
		t.Errorf("%d of %d clients succeeded, want exactly 1", ok, concurrentClients)
	}
}

func TestConcurrentCreateProjectSameName(t *testing.T) {
	s := tallytest.Start(t)
	pt := s.CreateProduct("Racing")
	sameNameRace(t, s, map[string]any{"requestType": "createProject", "userKey": s.Admin.UserKey, "productToken": pt, "projectName": "twin"}, 2010)
	m := s.MustCall(map[string]any{"requestType": "getAllProjects", "userKey": s.Admin.UserKey, "productToken": pt})
	if n := len(m["projects"].([]any)); n != 1 {
		t.Errorf("product has %d projects, want 1: %v", n, m)
	}
}

func TestConcurrentCreateProductSameName(t *testing.T) {
	s := tallytest.Start(t)
	sameNameRace(t, s, map[string]any{"requestType": "createProduct", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken, "productName": "Twin"}, 2001)
	m := s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	n := 0
	for _, p := range m["products"].([]any) {
		if p.(map[string]any)["productName"] == "Twin" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d products named Twin, want 1: %v", n, m)
	}
}

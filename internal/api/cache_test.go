package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/tallytest"
)

// agentUpdate posts an UPDATE into product "cache" through /agent and
// waits for FINISHED.
func agentUpdate(t testing.TB, s *tallytest.Server, updateType, diff string) {
	t.Helper()
	form := url.Values{"type": {"UPDATE"}, "token": {s.Admin.OrgToken}, "userKey": {s.Admin.UserKey},
		"product": {"cache"}, "updateType": {updateType}, "diff": {diff}}
	_, body := s.Post("/agent", "application/x-www-form-urlencoded", []byte(form.Encode()))
	var env struct {
		Status       int
		RequestToken string
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Status != 1 {
		t.Fatalf("agent update: %v: %s", err, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": s.Admin.UserKey,
			"orgToken": s.Admin.OrgToken, "requestToken": env.RequestToken})
		if st["requestState"] == "FINISHED" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("update did not finish: %v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The inventory reads are cached per project version: every update through
// the pipeline must show at once, and in-house patterns added while the
// server runs must apply to the next read.
func TestInventoryReadsFollowUpdates(t *testing.T) {
	s := tallytest.Start(t)
	lib := func(a, sha string) string {
		return `{"groupId":"com.acme","artifactId":"` + a + `","version":"1.0","sha1":"` + sha + `","dependencyType":"MAVEN"}`
	}
	project := func(deps ...string) string {
		return `[{"coordinates":{"artifactId":"svc"},"dependencies":[` + strings.Join(deps, ",") + `]}]`
	}
	agentUpdate(t, s, "OVERRIDE", project(lib("one", "1111111111111111111111111111111111111111")))
	pt := s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})["products"].([]any)[0].(map[string]any)["productToken"]
	token := s.MustCall(map[string]any{"requestType": "getAllProjects", "userKey": s.Admin.UserKey, "productToken": pt})["projects"].([]any)[0].(map[string]any)["projectToken"]
	names := func(requestType string, includeInHouse bool) []string {
		m := s.MustCall(map[string]any{"requestType": requestType, "userKey": s.Admin.UserKey, "projectToken": token, "includeInHouseData": includeInHouse})
		var out []string
		for _, l := range m["libraries"].([]any) {
			out = append(out, l.(map[string]any)["artifactId"].(string))
		}
		return out
	}
	check := func(step string, want ...string) {
		t.Helper()
		for _, rt := range []string{"getProjectHierarchy", "getProjectInventory"} {
			for range 2 { // the second read comes from the cache
				if got := names(rt, true); strings.Join(got, ",") != strings.Join(want, ",") {
					t.Fatalf("%s: %s = %v, want %v", step, rt, got, want)
				}
			}
		}
	}
	check("after OVERRIDE", "one")
	agentUpdate(t, s, "APPEND", project(lib("two", "2222222222222222222222222222222222222222")))
	check("after APPEND", "one", "two")
	agentUpdate(t, s, "REMOVE", project(lib("one", "1111111111111111111111111111111111111111")))
	check("after REMOVE", "two")

	if got := names("getProjectInventory", false); len(got) != 1 {
		t.Fatalf("before any in-house pattern: %v", got)
	}
	if _, err := s.RunCLI("admin", "set-inhouse", "--org-token", s.Admin.OrgToken, "--pattern", "com.acme"); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []string{"getProjectHierarchy", "getProjectInventory"} {
		if got := names(rt, false); len(got) != 0 {
			t.Fatalf("%s after the in-house pattern: %v, want none", rt, got)
		}
		if got := names(rt, true); len(got) != 1 {
			t.Fatalf("%s with in-house data: %v, want [two]", rt, got)
		}
	}
}

// A project's updated_at is the version its cached inventory reads are keyed
// by, so it must never repeat, even when the server storing an update has a
// clock behind the one that stored the previous update: a stored update
// always moves it forward.
func TestInventoryVersionOnlyGrows(t *testing.T) {
	r := newRig(t)
	diff := func(sha string) string {
		return `[{"coordinates":{"artifactId":"svc"},"dependencies":[{"groupId":"g","artifactId":"a` + sha[:1] +
			`","version":"1","sha1":"` + sha + `"}]}]`
	}
	agentUpdate(t, r.Server, "OVERRIDE", diff("1111111111111111111111111111111111111111"))
	// As if another server, its clock an hour ahead, had stored the last
	// update.
	ahead := time.Now().Add(time.Hour).UnixMilli()
	r.exec(`UPDATE projects SET updated_at = $1 WHERE name = 'svc'`, ahead)
	var token string
	if err := r.db().QueryRowContext(context.Background(), `SELECT token FROM projects WHERE name = 'svc'`).Scan(&token); err != nil {
		t.Fatal(err)
	}
	before := r.mustOK(req("getProjectHierarchy", r.Admin.UserKey, "projectToken", token)).m
	agentUpdate(t, r.Server, "OVERRIDE", diff("2222222222222222222222222222222222222222"))
	var updated int64
	if err := r.db().QueryRowContext(context.Background(), `SELECT updated_at FROM projects WHERE name = 'svc'`).Scan(&updated); err != nil {
		t.Fatal(err)
	}
	if updated <= ahead {
		t.Fatalf("updated_at went from %d to %d: a version came back or stood still", ahead, updated)
	}
	after := r.mustOK(req("getProjectHierarchy", r.Admin.UserKey, "projectToken", token)).m
	if fmt.Sprint(before) == fmt.Sprint(after) {
		t.Fatalf("hierarchy unchanged after the update: %v", after)
	}
}

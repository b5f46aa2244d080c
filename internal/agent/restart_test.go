package agent_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/tallytest"
)

// Updates queued when the server stops are processed after it starts
// again on the same database, whatever state each was in at the stop.
func TestRestartWithQueuedRequests(t *testing.T) {
	s := tallytest.Start(t)
	var tokens []string
	for i := range 12 {
		env := postForm(t, s, updateForm(s.Admin.OrgToken, s.Admin.UserKey, "Restart", "", diffOf(fmt.Sprintf("svc%02d", i), "a>b", fmt.Sprintf("own%02d", i))))
		if env.Status != agent.StatusOK {
			t.Fatalf("update %d refused: %+v", i, env)
		}
		tokens = append(tokens, env.RequestToken)
	}
	s.Restart()
	for i, tok := range tokens {
		if st := waitState(t, s, tok); st != "FINISHED" {
			t.Fatalf("request %d ended %s after the restart", i, st)
		}
	}
	projects := call[struct {
		Projects []struct{ ProjectName, ProjectToken string }
	}](t, s, map[string]any{"requestType": "getAllProjects", "userKey": s.Admin.UserKey,
		"productToken": productToken(t, s, "Restart")}).Projects
	if len(projects) != 12 {
		t.Fatalf("%d projects after the restart", len(projects))
	}
	for i, p := range projects {
		want := []string{"a", "a>b", fmt.Sprintf("own%02d", i)}
		if diff := cmp.Diff(want, tree(hierarchy(t, s, p.ProjectToken, true))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", p.ProjectName, diff)
		}
	}
}

func productToken(t *testing.T, s *tallytest.Server, name string) string {
	t.Helper()
	products := call[struct {
		Products []struct{ ProductName, ProductToken string }
	}](t, s, map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken}).Products
	for _, p := range products {
		if p.ProductName == name {
			return p.ProductToken
		}
	}
	t.Fatalf("no product %s", name)
	return ""
}

// One request may carry several projects: one named by the token of a
// project created through the API, one new by name.
func TestMultiProjectUpdateWithProjectToken(t *testing.T) {
	s := tallytest.Start(t)
	prod := s.CreateProduct("Multi")
	existing := s.CreateProject(prod, "existing")
	byToken := strings.Replace(strings.Trim(diffOf("", "x>y"), "[]"), `"coordinates":{"artifactId":""}`, `"projectToken":"`+existing+`"`, 1)
	diff := "[" + byToken + "," + strings.Trim(diffOf("fresh", "z"), "[]") + "]"
	env := mustUpdate(t, s, "Multi", "", diff)
	d := data(t, env)
	if !slices.Equal(anyStrings(d["createdProjects"]), []string{"fresh"}) || !slices.Equal(anyStrings(d["updatedProjects"]), []string{"existing"}) {
		t.Errorf("created/updated: %v", d)
	}
	if projectToken(t, env, "existing") != existing {
		t.Errorf("existing project answered with another token: %v", d)
	}
	if diff := cmp.Diff([]string{"x", "x>y"}, tree(hierarchy(t, s, existing, true))); diff != "" {
		t.Errorf("existing (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"z"}, tree(hierarchy(t, s, projectToken(t, env, "fresh"), true))); diff != "" {
		t.Errorf("fresh (-want +got):\n%s", diff)
	}
	// The top-level projectToken field names the project of a one-project
	// diff without coordinates.
	form := updateForm(s.Admin.OrgToken, s.Admin.UserKey, "", "", `[{"dependencies":[]}]`)
	form.Set("projectToken", existing)
	env = postForm(t, s, form)
	if env.Status != agent.StatusOK {
		t.Fatalf("update by form projectToken: %+v", env)
	}
	if st := waitState(t, s, env.RequestToken); st != "FINISHED" {
		t.Fatalf("ended %s", st)
	}
	if got := tree(hierarchy(t, s, existing, true)); len(got) != 0 {
		t.Errorf("OVERRIDE with an empty inventory left %v", got)
	}
}

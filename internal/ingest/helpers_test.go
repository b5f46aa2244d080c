package ingest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/testdb"
)

// env is a real database (SQLite, or PostgreSQL when TALLY_TEST_POSTGRES is
// set) with an organization and its administrator.
type env struct {
	path  string
	st    *store.Store
	org   store.Org
	admin *auth.Principal
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	path := testdb.New(t, t.TempDir()) // PostgreSQL when TALLY_TEST_POSTGRES is set
	st, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	key := auth.NewKey()
	org, err := st.CreateOrg(ctx, "Acme", "admin@acme.test", auth.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.UserByKeyHash(ctx, auth.HashKey(key))
	if err != nil {
		t.Fatal(err)
	}
	return &env{path: path, st: st, org: org, admin: &auth.Principal{UserID: u.ID, OrgID: u.OrgID, Email: u.Email, Grants: u.Grants}}
}

// chain returns a project whose libraries form a chain a0 > a1 > ... of n.
func chain(project, prefix string, n int) inventory.ProjectInfo {
	var build func(i int) []inventory.DependencyInfo
	build = func(i int) []inventory.DependencyInfo {
		if i == n {
			return nil
		}
		name := fmt.Sprintf("%s%d", prefix, i)
		return []inventory.DependencyInfo{{GroupID: "org.test", ArtifactID: name, Version: "1", DependencyType: "MAVEN", Children: build(i + 1)}}
	}
	return inventory.ProjectInfo{Coordinates: &inventory.Coordinates{ArtifactID: project}, Dependencies: build(0)}
}

func (e *env) submission(updateType string, projects ...inventory.ProjectInfo) Submission {
	return Submission{Principal: e.admin, OrgID: e.org.ID, Product: "Prod", UpdateType: updateType, Projects: projects,
		Source: "agent", PluginName: "test-agent 1.0"}
}

func (e *env) submit(t testing.TB, p *Pipeline, updateType string, projects ...inventory.ProjectInfo) Result {
	t.Helper()
	res, err := p.Submit(context.Background(), e.submission(updateType, projects...))
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return res
}

func (e *env) state(t testing.TB, token string) string {
	t.Helper()
	r, err := e.st.RequestByToken(context.Background(), e.org.ID, token)
	if err != nil {
		t.Fatalf("request %s: %v", token, err)
	}
	return r.State
}

// waitState polls a request until it is in state want (or another final
// state, which fails the test), with a generous deadline.
func (e *env) waitState(t testing.TB, token, want string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		st := e.state(t, token)
		if st == want {
			return
		}
		if st == store.RequestFinished || st == store.RequestFailed || st == store.RequestSkipped {
			_, reason, _ := e.st.RequestFailure(context.Background(), token)
			t.Fatalf("request %s ended %s (%s), want %s", token, st, reason, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("request %s still %s, want %s", token, st, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (e *env) project(t testing.TB, res Result, name string) store.Project {
	t.Helper()
	p, err := e.st.ProjectByID(context.Background(), res.ProjectNamesToIDs[name])
	if err != nil {
		t.Fatalf("project %s: %v", name, err)
	}
	return p
}

// names lists a project's libraries' artifactIds in keyId order.
func (e *env) names(t testing.TB, projectID int64) []string {
	t.Helper()
	libs, err := e.st.ProjectInventory(context.Background(), projectID)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, l := range libs {
		out = append(out, l.ArtifactID)
	}
	return out
}

// run starts a pipeline's worker; the returned stop cancels it and waits.
func run(p *Pipeline) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx)
	}()
	return func() { cancel(); <-done }
}

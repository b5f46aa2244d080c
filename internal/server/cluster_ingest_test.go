package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/notify/notifytest"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// Several servers on one database share the plugin-request queue and the
// mail outbox. Agents upload through all of them at once (as behind a load
// balancer); every request must be processed by exactly one server, in order
// per project, without duplicating a library, and each project's setup mail
// must go out once. On PostgreSQL this is the deployment docs/deploy.md
// describes; on SQLite the servers share one file in one process, which
// checks the same claim logic under SQLite's single writer.
const (
	clusterServers  = 3
	clusterClients  = 10  // agents uploading at the same time
	clusterProjects = 30  // 3 per client
	clusterUpdates  = 10  // OVERRIDE updates per project
	clusterPool     = 160 // libraries the projects draw from, shared between them
	clusterLibs     = 20  // libraries per update
)

// clusterLib is library k of the shared pool.
func clusterLib(k int) map[string]any {
	return map[string]any{
		"groupId":    "org.cluster",
		"artifactId": fmt.Sprintf("lib-%02d", k),
		"version":    "1.0." + fmt.Sprint(k%4),
		"sha1":       fmt.Sprintf("%040x", 0xc0ffee00+k),
		"filename":   fmt.Sprintf("lib-%02d-1.0.%d.jar", k, k%4),
		"type":       "jar",
		"scope":      "compile",
	}
}

// clusterUpdate is the library set update j of project p sends: a window of
// the pool that moves with j, so every update drops libraries (which may
// leave them unused) and adds others (which other projects may be adding
// through other servers at the same moment).
func clusterUpdate(p, j int) []int {
	out := make([]int, clusterLibs)
	for k := range out {
		out[k] = (p*7 + j*5 + k) % clusterPool
	}
	return out
}

func clusterProject(p int) string { return fmt.Sprintf("cluster-%02d", p) }

// postAgent uploads one OVERRIDE update of one project to a server and
// returns the request token.
func postAgent(client *http.Client, s *tallytest.Server, admin tallytest.Credentials, product string, p, j int) (string, error) {
	return postLibraries(client, s, admin, product, p, clusterUpdate(p, j))
}

// postLibraries uploads an OVERRIDE update that sets project p to the pool
// libraries libs and returns the request token.
func postLibraries(client *http.Client, s *tallytest.Server, admin tallytest.Credentials, product string, p int, libs []int) (string, error) {
	r, err := uploadLibraries(client, s, admin, product, p, libs)
	return r.RequestToken, err
}

// agentReply is the /agent envelope, with its data decoded.
type agentReply struct {
	RequestToken    string
	CreatedProjects []string
	UpdatedProjects []string
}

func uploadLibraries(client *http.Client, s *tallytest.Server, admin tallytest.Credentials, product string, p int, libs []int) (agentReply, error) {
	var deps []map[string]any
	for _, k := range libs {
		deps = append(deps, clusterLib(k))
	}
	diff, err := json.Marshal([]map[string]any{{
		"coordinates":  map[string]any{"artifactId": clusterProject(p)},
		"dependencies": deps,
	}})
	if err != nil {
		return agentReply{}, err
	}
	form := url.Values{
		"type":         {"UPDATE"},
		"agent":        {"fs-agent"},
		"agentVersion": {"2.3.9"},
		"token":        {admin.OrgToken},
		"userKey":      {admin.UserKey},
		"product":      {product},
		"timeStamp":    {fmt.Sprint(time.Now().UnixMilli())},
		"updateType":   {"OVERRIDE"},
		"diff":         {string(diff)},
	}
	resp, err := client.PostForm(s.URL+"/agent", form)
	if err != nil {
		return agentReply{}, fmt.Errorf("POST /agent: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return agentReply{}, fmt.Errorf("POST /agent: %w", err)
	}
	var env struct {
		Status       int    `json:"status"`
		Message      string `json:"message"`
		Data         string `json:"data"`
		RequestToken string `json:"requestToken"`
	}
	if err := json.Unmarshal(b, &env); err != nil || env.Status != 1 || env.RequestToken == "" {
		return agentReply{}, fmt.Errorf("POST /agent %s: HTTP %d: %s", clusterProject(p), resp.StatusCode, b)
	}
	var data struct {
		CreatedProjects []string `json:"createdProjects"`
		UpdatedProjects []string `json:"updatedProjects"`
	}
	if err := json.Unmarshal([]byte(env.Data), &data); err != nil {
		return agentReply{}, fmt.Errorf("POST /agent: data is not JSON: %w: %q", err, env.Data)
	}
	return agentReply{env.RequestToken, data.CreatedProjects, data.UpdatedProjects}, nil
}

func TestClusterProcessesEveryRequestOnce(t *testing.T) {
	mail := notifytest.Start(t)
	servers := tallytest.StartCluster(t, clusterServers, tallytest.WithEnv(mail.Env()),
		tallytest.WithEnv(map[string]string{"TALLY_NOTIFY_POLL": "100ms"}))
	admin := servers[0].Admin
	servers[0].MustCall(map[string]any{"requestType": "setProjectSetupNotificationConfig", "userKey": admin.UserKey,
		"orgToken": admin.OrgToken, "action": "ENABLED"})
	const product = "Cluster"
	servers[1].CreateProduct(product)

	tokens, errs, uploaded := uploadRounds(servers, admin, product)
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}

	// Wait until no request is queued or in processing. The deadline only
	// bounds a hung test.
	db := openDB(t, servers[0].DB)
	deadline := time.Now().Add(5 * time.Minute)
	for {
		var active int
		if err := db.QueryRow(`SELECT COUNT(*) FROM plugin_requests WHERE state IN ('IN_PROGRESS', 'UPDATED')`).Scan(&active); err != nil {
			t.Fatal(err)
		}
		if active == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still queued or processing", active)
		}
		time.Sleep(50 * time.Millisecond)
	}
	total := clusterProjects * clusterUpdates
	t.Logf("%s: %d servers, %d agents, %d agent requests of %d libraries each: all FINISHED after %v, %.0f requests/s end to end",
		tallytest.Backend(), clusterServers, clusterClients, total, clusterLibs, uploaded.Round(time.Millisecond), float64(total)/uploaded.Seconds())

	// Every request FINISHED, through the API of any server, each claimed
	// exactly once (a second claim would have counted a second attempt).
	for p, toks := range tokens {
		for j, tok := range toks {
			s := servers[(p+j)%clusterServers]
			m := s.MustCall(map[string]any{"requestType": "getRequestState", "userKey": admin.UserKey, "orgToken": admin.OrgToken, "requestToken": tok})
			if m["requestState"] != "FINISHED" {
				t.Errorf("%s update %d (%s): state %v, want FINISHED", clusterProject(p), j, tok, m["requestState"])
			}
		}
	}
	rows, err := db.Query(`SELECT token, state, attempts FROM plugin_requests WHERE attempts <> 1 OR state <> 'FINISHED'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var tok, state string
		var attempts int
		if err := rows.Scan(&tok, &state, &attempts); err != nil {
			t.Fatal(err)
		}
		t.Errorf("request %s: %s after %d claims, want FINISHED after 1", tok, state, attempts)
	}
	rows.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM plugin_requests`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != total {
		t.Errorf("%d plugin requests stored, want %d", n, total)
	}

	// Each project holds exactly its last update (updates of a project are
	// processed in upload order), and each library has one keyUuid across
	// all projects.
	uuids := map[string]string{} // artifactId → keyUuid
	used := map[string]bool{}
	for p := 0; p < clusterProjects; p++ {
		tok := projectToken(t, servers[p%clusterServers], admin, product, clusterProject(p))
		m := servers[(p+1)%clusterServers].MustCall(map[string]any{"requestType": "getProjectInventory", "userKey": admin.UserKey, "projectToken": tok})
		var got, want []string
		for _, l := range m["libraries"].([]any) {
			lib := l.(map[string]any)
			a := lib["artifactId"].(string)
			got = append(got, a)
			used[a] = true
			u := lib["keyUuid"].(string)
			if prev, ok := uuids[a]; ok && prev != u {
				t.Errorf("library %s has two keyUuids: %s and %s", a, prev, u)
			}
			uuids[a] = u
		}
		for _, k := range clusterUpdate(p, clusterUpdates-1) {
			want = append(want, clusterLib(k)["artifactId"].(string))
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s holds %v, want its last update %v", clusterProject(p), got, want)
		}
	}
	var libs, distinct int
	if err := db.QueryRow(`SELECT COUNT(*), COUNT(DISTINCT identity) FROM libraries`).Scan(&libs, &distinct); err != nil {
		t.Fatal(err)
	}
	if libs != distinct || libs != len(used) {
		t.Errorf("libraries table: %d rows, %d identities; projects use %d libraries (want one row each, no leftovers)", libs, distinct, len(used))
	}

	// One setup mail per project: wait until the outbox is settled, then
	// no project was mailed twice.
	for {
		var pending int
		if err := db.QueryRow(`SELECT COUNT(*) FROM outbox WHERE channel = 'email' AND state <> 'SENT'`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d setup mails not sent", pending)
		}
		time.Sleep(50 * time.Millisecond)
	}
	msgs := mail.WaitMessages(clusterProjects, time.Minute)
	bySubject := map[string]int{}
	for _, m := range msgs {
		bySubject[m.Subject]++
	}
	for p := 0; p < clusterProjects; p++ {
		subject := "Project setup completed: " + admin.OrgName + " / " + product + " / " + clusterProject(p)
		if bySubject[subject] != 1 {
			t.Errorf("%q mailed %d times, want once", subject, bySubject[subject])
		}
	}
	if len(msgs) != clusterProjects {
		t.Errorf("%d mails, want %d (one per project)", len(msgs), clusterProjects)
	}
}

// uploadRounds is the agents' side of the cluster tests: each of
// clusterClients agents owns clusterProjects/clusterClients projects. In each
// round it uploads one update of each of them, spread over the servers so
// that every server queues updates of every project, then waits (asking
// another server) until they are FINISHED, as an agent does: an update sent
// while an earlier one of the same project is being processed would be
// SKIPPED (the spec's rule), which is not what these tests are about. It
// returns the request tokens by project in upload order, and how long all
// rounds took.
func uploadRounds(servers []*tallytest.Server, admin tallytest.Credentials, product string) ([][]string, []error, time.Duration) {
	n := len(servers)
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 3 * clusterClients}}
	apis := make([]*apiClient, n)
	for i, s := range servers {
		apis[i] = newAPIClient(s)
	}
	tokens := make([][]string, clusterProjects)
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < clusterClients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < clusterUpdates; j++ {
				var round []string
				for p := c; p < clusterProjects; p += clusterClients {
					tok, err := postAgent(client, servers[(c+j+p)%n], admin, product, p, j)
					if err != nil {
						fail(err)
						return
					}
					mu.Lock()
					tokens[p] = append(tokens[p], tok)
					mu.Unlock()
					round = append(round, tok)
				}
				for i, tok := range round {
					if err := waitFinished(apis[(c+j+1)%n], admin, tok); err != nil {
						fail(fmt.Errorf("%s update %d: %w", clusterProject(c+i*clusterClients), j, err))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	return tokens, errs, time.Since(start)
}

// BenchmarkClusterAgentRequests measures agent requests processed per
// second, end to end (upload, queue, claim, reconcile, FINISHED seen by the
// agent), with the workload of TestClusterProcessesEveryRequestOnce on 1, 2
// and 3 servers sharing one database (PostgreSQL with TALLY_TEST_POSTGRES,
// else one SQLite file). docs/deploy.md reports its figures.
//
//	go test ./internal/server -run '^$' -bench ClusterAgentRequests -benchtime 3x
func BenchmarkClusterAgentRequests(b *testing.B) {
	for _, n := range []int{1, 2, 3} {
		b.Run(fmt.Sprintf("servers=%d", n), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				servers := tallytest.StartCluster(b, n)
				const product = "Bench"
				servers[0].CreateProduct(product)
				b.StartTimer()
				_, errs, d := uploadRounds(servers, servers[0].Admin, product)
				b.StopTimer()
				for _, err := range errs {
					b.Fatal(err)
				}
				total += d
				for _, s := range servers {
					s.Stop()
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(b.N*clusterProjects*clusterUpdates)/total.Seconds(), "requests/s")
		})
	}
}

// waitFinished polls getRequestState until the request leaves the queue; an
// end other than FINISHED is an error. The deadline only bounds a hung test.
func waitFinished(api *apiClient, admin tallytest.Credentials, token string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		m, err := api.call(map[string]any{"requestType": "getRequestState", "userKey": admin.UserKey, "orgToken": admin.OrgToken, "requestToken": token})
		if err != nil {
			return err
		}
		switch m["requestState"] {
		case "FINISHED":
			return nil
		case "IN_PROGRESS", "UPDATED":
		default:
			return fmt.Errorf("request %s ended %v: %v", token, m["requestState"], m)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("request %s still %v after 3 minutes", token, m["requestState"])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A library one project drops while another project, processed at the same
// moment by another server, takes it up: the first server's transaction
// deletes the library as unused while the second's adds a reference to it.
// On PostgreSQL (READ COMMITTED) this failed requests with a foreign key
// violation, and deadlocked (each deadlock stalls a second before
// PostgreSQL breaks it); the store now locks the libraries it collects and
// reruns a transaction whose library vanished under it.
func TestClusterLibraryHandOver(t *testing.T) {
	servers := tallytest.StartCluster(t, 2)
	admin := servers[0].Admin
	const product = "HandOver"
	servers[0].CreateProduct(product)
	client := &http.Client{Timeout: time.Minute}
	api := newAPIClient(servers[0])
	// In round j project 0 (through server 0) moves from library j-1 to j,
	// and project 1 (through server 1) from j-2 to j-1.
	const rounds = 100
	for j := 1; j <= rounds; j++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for p := 0; p < 2; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := postLibraries(client, servers[p], admin, product, p, []int{j - p})
				if err == nil {
					err = waitFinished(api, admin, tok)
				}
				errs[p] = err
			}()
		}
		wg.Wait()
		for p, err := range errs {
			if err != nil {
				t.Fatalf("round %d, project %d: %v", j, p, err)
			}
		}
	}
	for p := 0; p < 2; p++ {
		tok := projectToken(t, servers[p], admin, product, clusterProject(p))
		m := servers[1-p].MustCall(map[string]any{"requestType": "getProjectInventory", "userKey": admin.UserKey, "projectToken": tok})
		libs := m["libraries"].([]any)
		want := clusterLib(rounds - p)["artifactId"]
		if len(libs) != 1 || libs[0].(map[string]any)["artifactId"] != want {
			t.Errorf("project %d holds %v, want only %v", p, libs, want)
		}
	}
	var n int
	if err := openDB(t, servers[0].DB).QueryRow(`SELECT COUNT(*) FROM libraries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("%d libraries left, want the 2 in use", n)
	}
}

// Agents whose first uploads name the same new product and project reach
// several servers at once: each upload creates the product and project it
// does not find. On PostgreSQL all but one of them used to fail ("Unexpected
// error": the unique constraint, reported once the first had committed);
// now every upload is accepted, exactly one reports the project created,
// and one product and one project exist.
func TestClusterFirstUploadsOfANewProject(t *testing.T) {
	servers := tallytest.StartCluster(t, 3)
	admin := servers[0].Admin
	client := &http.Client{Timeout: time.Minute}
	const uploads = 12
	replies := together(uploads, func(i int) error {
		r, err := uploadLibraries(client, servers[i%len(servers)], admin, "Brand new", 0, []int{i})
		if err != nil {
			return err
		}
		if len(r.CreatedProjects)+len(r.UpdatedProjects) != 1 {
			return fmt.Errorf("upload %d: created %v, updated %v: want the one project", i, r.CreatedProjects, r.UpdatedProjects)
		}
		if len(r.CreatedProjects) == 1 {
			return errCreated
		}
		return nil
	})
	created := 0
	for _, err := range replies {
		switch {
		case errors.Is(err, errCreated):
			created++
		case err != nil:
			t.Error(err)
		}
	}
	if created != 1 {
		t.Errorf("%d uploads report the project created, want 1", created)
	}
	m := servers[1].MustCall(map[string]any{"requestType": "getAllProducts", "userKey": admin.UserKey, "orgToken": admin.OrgToken})
	if n := len(m["products"].([]any)); n != 1 {
		t.Errorf("%d products, want 1: %v", n, m)
	}
	projectToken(t, servers[2], admin, "Brand new", clusterProject(0))
	var n int
	if err := openDB(t, servers[0].DB).QueryRow(`SELECT COUNT(*) FROM projects`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d projects, want 1", n)
	}
}

var errCreated = errors.New("created")

// A project is deleted through one server (which removes the libraries no
// project uses any more) while another server stores an upload that gives
// one of those libraries to another project. The other project must keep
// it, and no unused library may be left.
func TestClusterDeleteProjectWhileUploading(t *testing.T) {
	servers := tallytest.StartCluster(t, 2)
	admin := servers[0].Admin
	const product = "Churn"
	servers[0].CreateProduct(product)
	client := &http.Client{Timeout: time.Minute}
	api := newAPIClient(servers[0])
	const rounds = 25
	for j := 1; j <= rounds; j++ {
		// Project 2 (a new one each round) gets library j ...
		tok, err := postLibraries(client, servers[0], admin, product, 2, []int{j})
		if err == nil {
			err = waitFinished(api, admin, tok)
		}
		if err != nil {
			t.Fatalf("round %d: %v", j, err)
		}
		doomed := projectToken(t, servers[0], admin, product, clusterProject(2))
		// ... and is deleted while project 1 moves from library j-1 to j.
		errs := together(2, func(i int) error {
			if i == 0 {
				m, err := api.call(map[string]any{"requestType": "deleteProject", "userKey": admin.UserKey, "projectToken": doomed})
				if err == nil && m["errorCode"] != nil {
					err = fmt.Errorf("deleteProject: %v", m)
				}
				return err
			}
			tok, err := postLibraries(client, servers[1], admin, product, 1, []int{j})
			if err == nil {
				err = waitFinished(newAPIClient(servers[1]), admin, tok)
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", j, err)
			}
		}
		tok1 := projectToken(t, servers[1], admin, product, clusterProject(1))
		m := servers[1].MustCall(map[string]any{"requestType": "getProjectInventory", "userKey": admin.UserKey, "projectToken": tok1})
		libs := m["libraries"].([]any)
		if want := clusterLib(j)["artifactId"]; len(libs) != 1 || libs[0].(map[string]any)["artifactId"] != want {
			t.Fatalf("round %d: project 1 holds %v, want only %v", j, libs, want)
		}
	}
	var n int
	if err := openDB(t, servers[0].DB).QueryRow(`SELECT COUNT(*) FROM libraries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d libraries left, want the 1 in use", n)
	}
}

func projectToken(t *testing.T, s *tallytest.Server, admin tallytest.Credentials, product, name string) string {
	t.Helper()
	m := s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": admin.UserKey, "orgToken": admin.OrgToken})
	for _, pr := range m["products"].([]any) {
		prm := pr.(map[string]any)
		if prm["productName"] != product {
			continue
		}
		m = s.MustCall(map[string]any{"requestType": "getAllProjects", "userKey": admin.UserKey, "productToken": prm["productToken"]})
		for _, pj := range m["projects"].([]any) {
			pjm := pj.(map[string]any)
			if pjm["projectName"] == name {
				return pjm["projectToken"].(string)
			}
		}
	}
	t.Fatalf("project %s/%s not found", product, name)
	return ""
}

// openDB opens the servers' database for the test's own checks.
func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st.DB()
}

package ingest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/store"
)

// blocker is a test hook that stops processing at one stage of the first
// request that reaches it, until released.
type blocker struct {
	stage    string
	reached  chan string
	release  chan struct{}
	once     sync.Once
	onCancel bool // return ctx.Err() when the worker's context ends
}

func newBlocker(stage string) *blocker {
	return &blocker{stage: stage, reached: make(chan string, 1), release: make(chan struct{})}
}

func (b *blocker) hook(ctx context.Context, stage, token string) error {
	if stage != b.stage {
		return nil
	}
	first := false
	b.once.Do(func() { first = true })
	if !first {
		return nil
	}
	b.reached <- token
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func TestStatesAndSkipped(t *testing.T) {
	e := newEnv(t)
	b := newBlocker("claimed")
	p := New(e.st, Options{Hook: b.hook})
	defer run(p)()
	first := e.submit(t, p, "", chain("svc", "a", 3))
	token := <-b.reached // the worker holds the first request mid-way
	if token != first.RequestToken {
		t.Fatalf("blocked %s, want %s", token, first.RequestToken)
	}
	if st := e.state(t, first.RequestToken); st != store.RequestInProgress {
		t.Errorf("request being processed is %s", st)
	}
	proj := e.project(t, first, "svc")
	if proj.LastProcess != store.ProcessDiff || !proj.InProgress {
		t.Errorf("project while processing: lastProcess %s inProgress %v", proj.LastProcess, proj.InProgress)
	}
	// An update of the same project arriving now is skipped (the spec's
	// rule); one of another project is queued.
	second := e.submit(t, p, "", chain("svc", "b", 2))
	if st := e.state(t, second.RequestToken); st != store.RequestSkipped {
		t.Errorf("concurrent update of the same project is %s, want SKIPPED", st)
	}
	other := e.submit(t, p, "", chain("other", "c", 2))
	if st := e.state(t, other.RequestToken); st != store.RequestInProgress {
		t.Errorf("update of another project is %s, want IN_PROGRESS", st)
	}
	close(b.release)
	e.waitState(t, first.RequestToken, store.RequestFinished)
	e.waitState(t, other.RequestToken, store.RequestFinished)
	if st := e.state(t, second.RequestToken); st != store.RequestSkipped {
		t.Errorf("skipped request became %s", st)
	}
	if got := e.names(t, proj.ID); !slices.Equal(got, []string{"a0", "a1", "a2"}) {
		t.Errorf("inventory %v: the skipped update must not be applied", got)
	}
	proj = e.project(t, first, "svc")
	if proj.LastProcess != store.ProcessUpdateAlerts || proj.InProgress || proj.LastRequestToken != first.RequestToken ||
		proj.PluginName != "test-agent 1.0" || proj.UploadedBy != "admin@acme.test" {
		t.Errorf("project after processing: %+v", proj)
	}
	// Once nothing is processing, the next update is taken.
	third := e.submit(t, p, "", chain("svc", "d", 1))
	e.waitState(t, third.RequestToken, store.RequestFinished)
	if got := e.names(t, proj.ID); !slices.Equal(got, []string{"d0"}) {
		t.Errorf("inventory after the third update: %v", got)
	}
}

// Between storing the inventory and finishing, a request is UPDATED and
// its project's last process UPDATE (REMOVE for a removal).
func TestUpdatedState(t *testing.T) {
	for _, mode := range []string{"", "REMOVE"} {
		e := newEnv(t)
		p := New(e.st, Options{})
		stop := run(p)
		r0 := e.submit(t, p, "", chain("svc", "a", 3))
		e.waitState(t, r0.RequestToken, store.RequestFinished)
		stop()
		b := newBlocker("updated")
		p = New(e.st, Options{Hook: b.hook})
		stop = run(p)
		r1 := e.submit(t, p, mode, chain("svc", "a", 2))
		<-b.reached
		if st := e.state(t, r1.RequestToken); st != store.RequestUpdated {
			t.Errorf("%s: state after storing %s", mode, st)
		}
		proj := e.project(t, r1, "svc")
		want := store.ProcessUpdate
		wantLibs := []string{"a0", "a1"}
		if mode == "REMOVE" {
			want, wantLibs = store.ProcessRemove, []string{"a2"}
		}
		if proj.LastProcess != want || !proj.InProgress {
			t.Errorf("%s: project lastProcess %s inProgress %v", mode, proj.LastProcess, proj.InProgress)
		}
		if got := e.names(t, proj.ID); !slices.Equal(got, wantLibs) {
			t.Errorf("%s: inventory when UPDATED: %v", mode, got)
		}
		// An update arriving now is skipped too: the request still holds
		// the project.
		r2 := e.submit(t, p, "", chain("svc", "x", 1))
		if st := e.state(t, r2.RequestToken); st != store.RequestSkipped {
			t.Errorf("%s: update during UPDATED is %s", mode, st)
		}
		close(b.release)
		e.waitState(t, r1.RequestToken, store.RequestFinished)
		stop()
	}
}

// Updates queued while nothing processes them are all processed in order.
func TestQueuedInOrder(t *testing.T) {
	e := newEnv(t)
	p := New(e.st, Options{})
	r1 := e.submit(t, p, "", chain("svc", "a", 2))
	r2 := e.submit(t, p, "APPEND", chain("svc", "b", 2))
	r3 := e.submit(t, p, "REMOVE", chain("svc", "a", 1))
	for _, r := range []Result{r1, r2, r3} {
		if st := e.state(t, r.RequestToken); st != store.RequestInProgress {
			t.Fatalf("queued request is %s", st)
		}
	}
	if proj := e.project(t, r1, "svc"); proj.LastProcess != store.ProcessSetup || !proj.InProgress {
		t.Errorf("new project with queued requests: lastProcess %s inProgress %v", proj.LastProcess, proj.InProgress)
	}
	defer run(p)()
	e.waitState(t, r3.RequestToken, store.RequestFinished)
	e.waitState(t, r1.RequestToken, store.RequestFinished)
	e.waitState(t, r2.RequestToken, store.RequestFinished)
	proj := e.project(t, r1, "svc")
	if got := e.names(t, proj.ID); !slices.Equal(got, []string{"a1", "b0", "b1"}) {
		t.Errorf("inventory after OVERRIDE, APPEND, REMOVE: %v", got)
	}
	if proj.LastProcess != store.ProcessUpdateAlerts || proj.LastRequestToken != r3.RequestToken {
		t.Errorf("project: %+v", proj)
	}
}

// A processor stopped mid-request commits nothing more; a new processor on
// the reopened database finishes the request. Stopped inside the storing
// transaction, nothing is stored; stopped after it (UPDATED), the
// inventory is there and only the finishing step runs again.
func TestStopMidRequestAndRestart(t *testing.T) {
	for _, stage := range []string{"reconciled", "updated"} {
		t.Run(stage, func(t *testing.T) {
			e := newEnv(t)
			b := newBlocker(stage)
			p1 := New(e.st, Options{Hook: b.hook, Owner: "first"})
			stop1 := run(p1)
			res := e.submit(t, p1, "", chain("svc", "a", 4))
			<-b.reached
			stop1() // the worker's context ends while it holds the request
			proj := e.project(t, res, "svc")
			want, wantLibs := store.RequestInProgress, 0
			if stage == "updated" {
				want, wantLibs = store.RequestUpdated, 4
			}
			if st := e.state(t, res.RequestToken); st != want {
				t.Fatalf("interrupted request is %s, want %s", st, want)
			}
			if got := e.names(t, proj.ID); len(got) != wantLibs {
				t.Fatalf("interrupted request stored %v", got)
			}
			// Restart: a new store handle and processor on the same database.
			if err := e.st.Close(); err != nil {
				t.Fatal(err)
			}
			st2, err := store.Open(context.Background(), e.path)
			if err != nil {
				t.Fatal(err)
			}
			e.st = st2
			t.Cleanup(func() { st2.Close() })
			p2 := New(st2, Options{Owner: "second"})
			defer run(p2)()
			e.waitState(t, res.RequestToken, store.RequestFinished)
			if got := e.names(t, proj.ID); !slices.Equal(got, []string{"a0", "a1", "a2", "a3"}) {
				t.Errorf("inventory after restart: %v", got)
			}
			var attempts int
			if err := st2.DB().QueryRow(`SELECT attempts FROM plugin_requests WHERE token = $1`, res.RequestToken).Scan(&attempts); err != nil {
				t.Fatal(err)
			}
			if attempts != 1 {
				t.Errorf("a request released on shutdown counts %d attempts, want 1", attempts)
			}
		})
	}
}

// A processor that died holding a request (its lease expired) does not
// leave it IN_PROGRESS: the next processor takes it over, and the dead one
// can no longer commit anything for it.
func TestDeadProcessorLeaseExpires(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := New(e.st, Options{Owner: "live"})
	res := e.submit(t, p, "", chain("svc", "a", 2))
	dead, err := e.st.ClaimRequest(ctx, "dead", time.Millisecond, 3)
	if err != nil || dead == nil || dead.Token != res.RequestToken {
		t.Fatalf("claim as the dead processor: %v %+v", err, dead)
	}
	waitLeaseExpired(t, e, res.RequestToken)
	defer run(p)()
	e.waitState(t, res.RequestToken, store.RequestFinished)
	// The dead processor wakes up: every write it tries is refused.
	err = e.st.Tx(ctx, func(tx *sql.Tx) error { return e.st.MarkRequestUpdatedTx(ctx, tx, dead) })
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("dead processor marking UPDATED: %v, want ErrLeaseLost", err)
	}
	if err := e.st.ReleaseRequest(ctx, dead); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("dead processor releasing: %v, want ErrLeaseLost", err)
	}
	if err := e.st.FailRequest(ctx, dead, "late"); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("dead processor failing: %v, want ErrLeaseLost", err)
	}
	if st := e.state(t, res.RequestToken); st != store.RequestFinished {
		t.Errorf("request is %s after the dead processor's attempts", st)
	}
}

// A request whose processors keep dying ends FAILED with a reason.
func TestDeadProcessorTooOftenFails(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := New(e.st, Options{MaxAttempts: 1})
	res := e.submit(t, p, "", chain("svc", "a", 2))
	if _, err := e.st.ClaimRequest(ctx, "dead", time.Millisecond, 1); err != nil {
		t.Fatal(err)
	}
	waitLeaseExpired(t, e, res.RequestToken)
	defer run(p)()
	e.waitState(t, res.RequestToken, store.RequestFailed)
	_, reason, err := e.st.RequestFailure(ctx, res.RequestToken)
	if err != nil || reason != store.ExpiredFailure {
		t.Errorf("failure reason %q (%v)", reason, err)
	}
	if proj := e.project(t, res, "svc"); proj.InProgress {
		t.Errorf("project still in progress after its request failed")
	}
}

func waitLeaseExpired(t *testing.T, e *env, token string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var until int64
		if err := e.st.DB().QueryRow(`SELECT lease_until FROM plugin_requests WHERE token = $1`, token).Scan(&until); err != nil {
			t.Fatal(err)
		}
		if until < time.Now().UnixMilli() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("lease did not expire")
		}
		time.Sleep(time.Millisecond)
	}
}

// A processing error is retried, and after MaxAttempts attempts ends the
// request FAILED with the reason; nothing of it is stored.
func TestProcessingErrorFails(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	attempts := 0
	p := New(e.st, Options{MaxAttempts: 3, Hook: func(_ context.Context, stage, _ string) error {
		if stage == "reconciled" {
			mu.Lock()
			attempts++
			mu.Unlock()
			return errors.New("disk on fire")
		}
		return nil
	}})
	defer run(p)()
	res := e.submit(t, p, "", chain("svc", "a", 2))
	e.waitState(t, res.RequestToken, store.RequestFailed)
	_, reason, _ := e.st.RequestFailure(context.Background(), res.RequestToken)
	if !strings.Contains(reason, "disk on fire") {
		t.Errorf("reason %q", reason)
	}
	mu.Lock()
	if attempts != 3 {
		t.Errorf("%d attempts, want 3", attempts)
	}
	mu.Unlock()
	if got := e.names(t, res.ProjectNamesToIDs["svc"]); len(got) != 0 {
		t.Errorf("a failed request stored %v", got)
	}
}

type recordingHook struct {
	mu     sync.Mutex
	events []SetupEvent
}

func (h *recordingHook) ProjectSetupCompleted(ctx context.Context, tx *sql.Tx, ev SetupEvent) error {
	// The hook writes inside the transaction that marks the request
	// FINISHED: prove it by reading the request's state through tx.
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT state FROM plugin_requests WHERE token = $1`, ev.RequestToken).Scan(&state); err != nil {
		return err
	}
	if state != store.RequestFinished {
		return errors.New("hook called before the request is FINISHED in its transaction: " + state)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	return nil
}

func TestSetupHookOnFirstFinishedUpdate(t *testing.T) {
	e := newEnv(t)
	h := &recordingHook{}
	p := New(e.st, Options{SetupHook: h})
	defer run(p)()
	sub := e.submission("", chain("svc", "a", 3))
	sub.RequesterEmail = "dev@acme.test"
	r1, err := p.Submit(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	e.waitState(t, r1.RequestToken, store.RequestFinished)
	r2 := e.submit(t, p, "", chain("svc", "b", 1))
	e.waitState(t, r2.RequestToken, store.RequestFinished)
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.events) != 1 {
		t.Fatalf("setup events: %+v", h.events)
	}
	ev := h.events[0]
	if ev.ProjectName != "svc" || ev.ProductName != "Prod" || ev.OrgName != "Acme" || ev.Libraries != 3 || ev.RequestToken != r1.RequestToken ||
		ev.RequesterEmail != "dev@acme.test" || ev.ProjectToken == "" || ev.FinishedAt.IsZero() {
		t.Errorf("setup event %+v", ev)
	}
}

// A passing error is retried: the request finishes on its second attempt.
func TestProcessingErrorRetried(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	failed := false
	p := New(e.st, Options{Hook: func(_ context.Context, stage, _ string) error {
		mu.Lock()
		defer mu.Unlock()
		if stage == "loaded" && !failed {
			failed = true
			return errors.New("database is locked")
		}
		return nil
	}})
	defer run(p)()
	res := e.submit(t, p, "", chain("svc", "a", 2))
	e.waitState(t, res.RequestToken, store.RequestFinished)
	if got := e.names(t, res.ProjectNamesToIDs["svc"]); len(got) != 2 {
		t.Errorf("inventory %v", got)
	}
}

// Libraries no project uses any more are removed; those still used stay
// with their keyUuid.
func TestUnusedLibrariesRemoved(t *testing.T) {
	e := newEnv(t)
	p := New(e.st, Options{})
	defer run(p)()
	r1 := e.submit(t, p, "", chain("one", "a", 2))
	e.waitState(t, r1.RequestToken, store.RequestFinished)
	r2 := e.submit(t, p, "", chain("two", "a", 1))
	e.waitState(t, r2.RequestToken, store.RequestFinished)
	ctx := context.Background()
	before, err := e.st.ProjectInventory(ctx, r2.ProjectNamesToIDs["two"])
	if err != nil {
		t.Fatal(err)
	}
	r3 := e.submit(t, p, "", chain("one", "z", 1))
	e.waitState(t, r3.RequestToken, store.RequestFinished)
	var n int
	if err := e.st.DB().QueryRow(`SELECT COUNT(*) FROM libraries`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 2 { // a0 (still in two) and z0; a1 is gone
		t.Errorf("%d libraries left, want 2", n)
	}
	after, err := e.st.ProjectInventory(ctx, r2.ProjectNamesToIDs["two"])
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 1 || after[0].KeyUUID != before[0].KeyUUID {
		t.Errorf("project two's library changed: %+v -> %+v", before, after)
	}
}

// An ended request keeps no payload; past the retention it is deleted.
func TestPayloadClearedAndOldRequestsPruned(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	p := New(e.st, Options{})
	stop := run(p)
	res := e.submit(t, p, "", chain("svc", "a", 3))
	e.waitState(t, res.RequestToken, store.RequestFinished)
	stop()
	var payload string
	if err := e.st.DB().QueryRow(`SELECT payload FROM plugin_requests WHERE token = $1`, res.RequestToken).Scan(&payload); err != nil {
		t.Fatal(err)
	}
	if payload != "" {
		t.Errorf("a FINISHED request keeps a payload of %d bytes", len(payload))
	}
	// A worker whose retention is shorter than the request's age deletes
	// it when it starts.
	time.Sleep(2 * time.Millisecond)
	p2 := New(e.st, Options{Retention: time.Millisecond})
	defer run(p2)()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := e.st.RequestByToken(ctx, e.org.ID, res.RequestToken)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("old request not pruned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := e.names(t, res.ProjectNamesToIDs["svc"]); len(got) != 3 {
		t.Errorf("pruning a request touched the inventory: %v", got)
	}
}

// Submitters in parallel with the worker: every update is queued (none
// refused for a busy database) and processed or skipped; each project ends
// with the inventory of its last processed update.
func TestConcurrentSubmitters(t *testing.T) {
	e := newEnv(t)
	p := New(e.st, Options{})
	defer run(p)()
	const workers, each = 4, 8
	var mu sync.Mutex
	prefixOf := map[string]string{} // request token → library name prefix
	projectOf := map[int]int64{}
	var wg sync.WaitGroup
	errc := make(chan error, workers*each)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				prefix := fmt.Sprintf("w%di%d-", w, i)
				res, err := p.Submit(context.Background(), e.submission("", chain(fmt.Sprintf("svc%d", w), prefix, 40)))
				if err != nil {
					errc <- err
					return
				}
				mu.Lock()
				prefixOf[res.RequestToken] = prefix
				projectOf[w] = res.ProjectNamesToIDs[fmt.Sprintf("svc%d", w)]
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("submit: %v", err)
	}
	for tok := range prefixOf {
		deadline := time.Now().Add(60 * time.Second)
		for {
			st := e.state(t, tok)
			if st == store.RequestFinished || st == store.RequestSkipped {
				break
			}
			if st == store.RequestFailed || time.Now().After(deadline) {
				t.Fatalf("request %s is %s", tok, st)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	for w, id := range projectOf {
		proj, err := e.st.ProjectByID(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st := e.state(t, proj.LastRequestToken); st != store.RequestFinished || proj.InProgress {
			t.Errorf("project %d: last request %s, inProgress %v", w, st, proj.InProgress)
		}
		names := e.names(t, id)
		prefix := prefixOf[proj.LastRequestToken]
		if len(names) != 40 {
			t.Errorf("project %d has %d libraries", w, len(names))
		}
		for _, n := range names {
			if !strings.HasPrefix(n, prefix) {
				t.Errorf("project %d: library %s is not of its last update (%s)", w, n, prefix)
				break
			}
		}
	}
}

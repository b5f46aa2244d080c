package store_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// Several servers starting at once on one new database must apply each
// migration once and all come up (on PostgreSQL the advisory lock makes them
// take turns; without it they fail creating the same tables).
func TestOpenConcurrentlyMigratesOnce(t *testing.T) {
	dsn := tallytest.NewDatabase(t, t.TempDir())
	ctx := context.Background()
	const n = 4
	stores := make([]*store.Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = store.Open(ctx, dsn)
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d of %d: %v", i+1, n, err)
		}
		defer stores[i].Close()
	}
	if got, want := stores[0].Backend(), tallytest.Backend(); got != want {
		t.Errorf("backend %q, want %q", got, want)
	}
	var rows, versions int
	err := stores[0].DB().QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions)
	if err != nil {
		t.Fatal(err)
	}
	if rows == 0 || rows != versions {
		t.Errorf("schema_migrations has %d rows for %d versions, want one row per version", rows, versions)
	}
	// Reopening applies nothing new and keeps the data.
	if _, err := stores[1].CreateProduct(ctx, mustOrg(t, stores[1]), "Kept"); err != nil {
		t.Fatal(err)
	}
	again, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	var after int
	if err := again.DB().QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after != rows {
		t.Errorf("reopen: %d migrations recorded, had %d", after, rows)
	}
	if _, err := again.ProductByName(ctx, mustOrg(t, again), "Kept"); err != nil {
		t.Errorf("reopen: product lost: %v", err)
	}
}

func mustOrg(t *testing.T, s *store.Store) int64 {
	t.Helper()
	ctx := context.Background()
	if n, err := s.CountOrgs(ctx); err != nil {
		t.Fatal(err)
	} else if n == 0 {
		if _, err := s.CreateOrg(ctx, "Org", "admin@example.test", "hash"); err != nil {
			t.Fatal(err)
		}
	}
	var id int64
	if err := s.DB().QueryRowContext(ctx, `SELECT MIN(id) FROM orgs`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// Unique violations are reported as ErrConflict on both backends.
func TestUniqueViolationIsConflict(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, tallytest.NewDatabase(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org := mustOrg(t, s)
	if _, err := s.CreateProduct(ctx, org, "Once"); err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateProduct(ctx, org, "Once")
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
}

// Names sort by bytes on both backends (PostgreSQL text columns use the
// "C" collation), so every list comes out in the same order.
func TestNamesSortTheSameOnBothBackends(t *testing.T) {
	ctx := context.Background()
	s, err := store.Open(ctx, tallytest.NewDatabase(t, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	org := mustOrg(t, s)
	for _, name := range []string{"beta", "Zeta", "alpha", "Beta", "_x", "émile", "10", "9"} {
		if _, err := s.CreateProduct(ctx, org, name); err != nil {
			t.Fatal(err)
		}
	}
	ps, err := s.ProductsByOrg(ctx, org)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Name)
	}
	want := []string{"10", "9", "Beta", "Zeta", "_x", "alpha", "beta", "émile"}
	if !slices.Equal(got, want) {
		t.Errorf("products in order %q, want %q", got, want)
	}
}

// Database URLs carry passwords: messages and logs show them hidden.
func TestRedactAndOpenErrorsHidePasswords(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://tally:s3cret@db.example:5432/tally?sslmode=verify-full": "postgres://tally:xxxxx@db.example:5432/tally?sslmode=verify-full",
		"postgresql://tally@db.example/tally":                               "postgresql://tally@db.example/tally",
		"./tally-data/tally.db":                                             "./tally-data/tally.db",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	// Nothing listens on port 1 of the loopback address.
	_, err := store.Open(context.Background(), "postgres://tally:s3cret@127.0.0.1:1/tally?connect_timeout=5")
	if err == nil {
		t.Fatal("open on a closed port succeeded")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// A transaction left idle by a server that died or hung must not hold its
// locks for ever: Tally's PostgreSQL sessions end after a minute idle in a
// transaction (here, set in the URL, after 300 ms), and another session then
// gets the row. SQLite has no sessions to abandon: a process that dies
// releases its file locks with it.
func TestPostgresIdleTransactionReleasesLocks(t *testing.T) {
	if tallytest.Backend() != "postgres" {
		t.Skip("PostgreSQL session settings; SQLite's locks go with the process that holds them")
	}
	ctx := context.Background()
	dsn := tallytest.NewDatabase(t, t.TempDir())
	s, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var name, timeout string
	if err := s.DB().QueryRowContext(ctx, `SELECT current_setting('application_name'), current_setting('idle_in_transaction_session_timeout')`).Scan(&name, &timeout); err != nil {
		t.Fatal(err)
	}
	if name != "tally" || timeout != "1min" {
		t.Errorf("session: application_name %q, idle_in_transaction_session_timeout %q; want tally, 1min", name, timeout)
	}
	org := mustOrg(t, s)

	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("idle_in_transaction_session_timeout", "300")
	u.RawQuery = q.Encode()
	hung, err := store.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close()
	tx, err := hung.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE orgs SET name = 'locked' WHERE id = $1`, org); err != nil {
		t.Fatal(err)
	}
	// The hung server does nothing more. Another one waits for the row; the
	// deadline only bounds a hung test.
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := s.DB().ExecContext(wctx, `UPDATE orgs SET name = 'next' WHERE id = $1`, org); err != nil {
		t.Fatalf("the row stayed locked: %v", err)
	}
	if err := tx.Commit(); err == nil {
		t.Error("the abandoned transaction committed after its session was ended")
	}
	var got string
	if err := s.DB().QueryRowContext(ctx, `SELECT name FROM orgs WHERE id = $1`, org).Scan(&got); err != nil || got != "next" {
		t.Errorf("org name %q (%v), want next", got, err)
	}
}

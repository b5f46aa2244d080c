// Package store keeps Tally's data: hand-written SQL over database/sql, one
// file per aggregate, migrations as an append-only list.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the embedded default backend
)

// Errors callers branch on. Everything else is wrapped with context.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("already exists")
)

// Store is the handle on the database shared by the server, the pipeline and
// the admin commands.
type Store struct {
	db      *sql.DB
	dialect dialect
	stmts   sync.Map // query text -> *sql.Stmt, see stmtcache.go
}

// Open opens the database named by dsn and applies pending migrations. dsn
// is a SQLite file path (created if missing, optionally written
// sqlite://PATH) or a PostgreSQL URL, postgres://user:pass@host:5432/db,
// for a PostgreSQL 15+ database the user may create tables in.
func Open(ctx context.Context, dsn string) (*Store, error) {
	var s *Store
	if isPostgresDSN(dsn) {
		db, err := openPostgres(ctx, dsn)
		if err != nil {
			return nil, err
		}
		s = &Store{db: db, dialect: postgresDialect{}}
	} else {
		path := strings.TrimPrefix(dsn, "sqlite://")
		db, err := openSQLite(ctx, path)
		if err != nil {
			return nil, err
		}
		s = &Store{db: db, dialect: sqliteDialect{path: path}}
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

func openSQLite(ctx context.Context, path string) (*sql.DB, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: create directory: %w", err)
		}
	}
	// busy_timeout lets concurrent writers (the server and admin commands on
	// the same file) wait for each other; _txlock=immediate takes the write
	// lock at BEGIN so read-then-write transactions cannot deadlock.
	// busy_timeout comes first: switching a new file to WAL takes a lock
	// that connections opening at the same moment must wait for.
	q := "?_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// The first connection turns a new file to WAL. SQLite answers
	// SQLITE_BUSY at once, without waiting, to a connection that opens while
	// another does that (servers of a test starting together), so retry.
	for i := 0; ; i++ {
		err := db.PingContext(ctx)
		if err == nil {
			break
		}
		if i == 200 || !strings.Contains(err.Error(), "SQLITE_BUSY") {
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			db.Close()
			return nil, fmt.Errorf("open store %s: %w", path, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return db, nil
}

// Close releases the database.
func (s *Store) Close() error {
	s.closeStatements()
	return s.db.Close()
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// DB exposes the handle for tests and benchmarks that measure raw inserts.
func (s *Store) DB() *sql.DB { return s.db }

// Backend names the database in use: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.dialect.name() }

// migrate applies pending migrations. Several servers may start on one
// PostgreSQL database at once: they take turns under an advisory lock, and
// each finds the versions the others applied already recorded.
func (s *Store) migrate(ctx context.Context) error {
	return s.Exclusive(ctx, "migrate", func() error {
		if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: create schema_migrations: %w", err)
		}
		for _, m := range migrations {
			version := m.version
			err := s.tx(ctx, func(tx *sql.Tx) error {
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
					return err
				}
				if n > 0 {
					return nil
				}
				if _, err := tx.ExecContext(ctx, s.dialect.rewrite(m.sql)); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, nowMillis())
				return err
			})
			if err != nil {
				return fmt.Errorf("migrate to version %d: %w", version, err)
			}
		}
		return nil
	})
}

// Exclusive runs fn while no other server on the same database runs an
// Exclusive with the same name: on PostgreSQL a session advisory lock,
// released when fn returns or the process dies. On SQLite, where one server
// owns the file, fn simply runs. fn must use the store as usual; the lock is
// held on a connection of its own.
func (s *Store) Exclusive(ctx context.Context, name string, fn func() error) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("exclusive %s: connection: %w", name, err)
	}
	defer conn.Close()
	h := fnv.New64a()
	h.Write([]byte("tally:" + name))
	if err := s.dialect.exclusive(ctx, conn, int64(h.Sum64()), fn); err != nil {
		return fmt.Errorf("exclusive %s: %w", name, err)
	}
	return nil
}

// tx runs fn in a transaction, committing when it returns nil. On
// PostgreSQL a transaction is run again from the start (after a short random
// pause) when the database aborted it for a deadlock or a serialization
// failure, or when it failed on a row another transaction changed under it
// (see isRetryable), a few times; and once when it hit a unique constraint:
// PostgreSQL reports that only after the transaction that inserted the same
// key committed, so a transaction that looked a row up, did not find it and
// inserted it (get or create, as an agent's first upload does for its
// product and project) fails where SQLite, one writer at a time, would have
// found the row. Run again, it finds it; a true duplicate fails again and is
// reported. So fn must have no effects outside the transaction other than
// setting its results.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	const attempts = 6
	uniqueRetried := false
	for i := 1; ; i++ {
		err := s.tx1(ctx, fn)
		if err == nil || i == attempts {
			return err
		}
		switch {
		case s.dialect.isRetryable(err):
		case s.dialect.name() == "postgres" && !uniqueRetried &&
			(errors.Is(err, ErrConflict) || s.dialect.isUniqueViolation(err)):
			uniqueRetried = true
		default:
			return err
		}
		pause := time.Duration(i*(5+rand.IntN(20))) * time.Millisecond
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (retry abandoned: %w)", err, ctx.Err())
		case <-time.After(pause):
		}
	}
}

func (s *Store) tx1(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func nowMillis() int64 { return time.Now().UnixMilli() }

// conflictOr maps a unique-constraint violation to ErrConflict.
func (s *Store) conflictOr(err error, what string) error {
	if err == nil {
		return nil
	}
	if s.dialect.isUniqueViolation(err) {
		return fmt.Errorf("%s: %w", what, ErrConflict)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Tx runs fn in one transaction, committing when it returns nil. Components
// that must write with the store atomically (the pipeline and its hooks) use
// it. Like every store transaction, fn may run more than once on PostgreSQL
// (see tx), so it must do nothing outside the transaction but set results.
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.tx(ctx, fn) }

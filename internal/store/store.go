// Package store keeps Tally's data: hand-written SQL over database/sql, one
// file per aggregate, migrations as an append-only list.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
}

// Open opens (and creates, for SQLite) the database named by dsn and applies
// pending migrations. dsn is a file path for SQLite; postgres:// URLs are
// reserved for the PostgreSQL backend.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		return nil, errors.New("open store: the PostgreSQL backend is not available yet")
	}
	path := strings.TrimPrefix(dsn, "sqlite://")
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open store: create directory: %w", err)
		}
	}
	// busy_timeout lets concurrent writers (the server and admin commands on
	// the same file) wait for each other; _txlock=immediate takes the write
	// lock at BEGIN so read-then-write transactions cannot deadlock.
	q := "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", "file:"+path+q)
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s := &Store{db: db, dialect: sqliteDialect{}}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close releases the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// DB exposes the handle for tests and benchmarks that measure raw inserts.
func (s *Store) DB() *sql.DB { return s.db }

func (s *Store) migrate(ctx context.Context) error {
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
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
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
// it.
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.tx(ctx, fn) }

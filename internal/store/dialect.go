package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
)

// dialect holds the few things that differ between the SQL backends.
type dialect interface {
	// name is "sqlite" or "postgres".
	name() string
	// rewrite turns a migration's portable SQL into the backend's.
	rewrite(schema string) string
	isUniqueViolation(err error) bool
	// isRetryable reports an error after which the whole transaction may
	// be run again and succeed (a deadlock or serialization failure).
	isRetryable(err error) bool
	// skipLocked is appended to a SELECT that claims queue rows, so that
	// several servers claiming at once each get different rows: " FOR
	// UPDATE SKIP LOCKED" on PostgreSQL. SQLite has one writer at a time
	// (transactions begin IMMEDIATE), so the plain SELECT inside the
	// claiming transaction is already exclusive there and this is "".
	skipLocked() string
	// forUpdate is appended to a SELECT whose rows the transaction must
	// hold until it ends, so that no other writes them meanwhile: " FOR
	// UPDATE" on PostgreSQL, "" on SQLite (one writer at a time).
	forUpdate() string
	// exclusive runs fn while holding a database-wide lock named key, held
	// on conn (a connection set aside for it), so that one server at a
	// time runs fn however many start at once. fn uses the pool, not conn.
	exclusive(ctx context.Context, conn *sql.Conn, key int64, fn func() error) error
}

// sqliteDialect is SQLite's; path is the database file.
type sqliteDialect struct{ path string }

func (sqliteDialect) name() string { return "sqlite" }

func (sqliteDialect) rewrite(schema string) string {
	return strings.ReplaceAll(schema, "{{PK}}", "INTEGER PRIMARY KEY AUTOINCREMENT")
}

func (sqliteDialect) isUniqueViolation(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "UNIQUE constraint failed") ||
		strings.Contains(err.Error(), "PRIMARY KEY constraint failed"))
}

// isRetryable is false: with _txlock=immediate and busy_timeout a SQLite
// transaction waits for the write lock instead of failing part-way.
func (sqliteDialect) isRetryable(error) bool { return false }

func (sqliteDialect) skipLocked() string { return "" }

func (sqliteDialect) forUpdate() string { return "" }

// exclusive on SQLite serializes fn among the stores of this process open on
// the same file (tests run several servers in one process). A SQLite file
// belongs to one server process; several processes need PostgreSQL.
func (d sqliteDialect) exclusive(_ context.Context, _ *sql.Conn, key int64, fn func() error) error {
	abs, err := filepath.Abs(d.path)
	if err != nil {
		abs = d.path
	}
	v, _ := sqliteLocks.LoadOrStore(fmt.Sprintf("%s\x00%d", abs, key), &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	defer mu.Unlock()
	return fn()
}

var sqliteLocks sync.Map // file and key → *sync.Mutex

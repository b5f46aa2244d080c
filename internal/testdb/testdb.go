// Package testdb gives each test a database of its own: a SQLite file, or,
// when TALLY_TEST_POSTGRES is set, a new database on that PostgreSQL
// server. It imports nothing of Tally's, so the tests of every package,
// internal ones included, can use it; tallytest.NewDatabase is the same.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // creates and drops test databases
)

// PostgresEnv is the variable that selects PostgreSQL: the URL of a running
// PostgreSQL 15+ server, for a user who may create databases.
const PostgresEnv = "TALLY_TEST_POSTGRES"

// Backend is "postgres" when TALLY_TEST_POSTGRES is set, else "sqlite".
func Backend() string {
	if os.Getenv(PostgresEnv) != "" {
		return "postgres"
	}
	return "sqlite"
}

// New returns a new, empty database for a test, as the store opens it, and
// removes it when the test ends: a SQLite file in dir, or, when
// TALLY_TEST_POSTGRES is set, a database of its own on that server (CREATE
// DATABASE tally_t_<random>, dropped in a t.Cleanup registered now, so that
// it runs after the cleanups of whatever the test starts on it later),
// returned as a postgres:// URL.
func New(t testing.TB, dir string) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		return filepath.Join(dir, "tally.db")
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("%s must be a postgres:// URL, got %q", PostgresEnv, admin)
	}
	var rnd [8]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatalf("random database name: %v", err)
	}
	name := "tally_t_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("connect to %s: %v", PostgresEnv, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

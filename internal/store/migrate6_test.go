package store

import (
	"context"
	"testing"

	"github.com/tallyhq/tally/internal/testdb"
)

// Migration 6 rebuilds library_edges and source_files: rows stored before
// it are kept, and deleting a project still takes its rows along.
func TestMigration6KeepsEdgesAndFiles(t *testing.T) {
	ctx := context.Background()
	dsn := testdb.New(t, t.TempDir())
	all := migrations
	var before []migration
	for _, m := range all {
		if m.version < 6 {
			before = append(before, m)
		}
	}
	migrations = before
	s, err := Open(ctx, dsn)
	migrations = all
	if err != nil {
		t.Fatal(err)
	}
	exec := func(s *Store, q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(s, `INSERT INTO orgs (id, name, token, created_at) VALUES (1, 'o', 't', 0)`)
	exec(s, `INSERT INTO products (id, org_id, name, token, created_at, updated_at) VALUES (1, 1, 'p', 'pt', 0, 0)`)
	exec(s, `INSERT INTO projects (id, product_id, name, token, created_at, updated_at, state_at) VALUES (1, 1, 'a', 'a', 0, 0, 0), (2, 1, 'b', 'b', 0, 0, 0)`)
	exec(s, `INSERT INTO libraries (id, org_id, key_uuid, identity, created_at) VALUES (1, 1, 'u1', 'i1', 0), (2, 1, 'u2', 'i2', 0)`)
	exec(s, `INSERT INTO library_edges (project_id, parent_id, child_id) VALUES (1, 1, 2), (2, 2, 1)`)
	exec(s, `INSERT INTO source_files (project_id, library_id, sha1, name, path) VALUES (1, 1, 's', 'x.c', '/x.c'), (2, 2, 's', 'y.c', '')`)
	s.Close()

	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatalf("migrate to 6: %v", err)
	}
	defer s.Close()
	edges, err := s.ProjectEdges(ctx, 1)
	if err != nil || len(edges) != 1 || edges[0].Parent != 1 || edges[0].Child != 2 {
		t.Errorf("edges of project 1 after migration: %v %v", edges, err)
	}
	files, err := s.SourceFiles(ctx, 2, 2)
	if err != nil || len(files) != 1 || files[0].Name != "y.c" {
		t.Errorf("source files of project 2 after migration: %v %v", files, err)
	}
	exec(s, `DELETE FROM projects WHERE id = 1`)
	for _, q := range []string{`SELECT COUNT(*) FROM library_edges`, `SELECT COUNT(*) FROM source_files`} {
		var n int
		if err := s.db.QueryRowContext(ctx, q).Scan(&n); err != nil || n != 1 {
			t.Errorf("%s after deleting project 1: %d %v", q, n, err)
		}
	}
	// The primary key still holds.
	if _, err := s.db.ExecContext(ctx, `INSERT INTO library_edges (project_id, parent_id, child_id) VALUES (2, 2, 1)`); err == nil {
		t.Error("a duplicate edge was accepted")
	}
}

package server_test

import (
	"bytes"
	"context"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

// The backups docs/deploy.md describes, taken while the server runs and
// restored onto a new server: SQLite's VACUUM INTO (what `sqlite3 tally.db
// "VACUUM INTO 'copy.db'"` runs), and on PostgreSQL pg_dump -Fc and
// pg_restore into a new database.
func TestBackupWhileServingRestores(t *testing.T) {
	s := tallytest.Start(t)
	pt := s.CreateProduct("Backed up")
	jt := s.CreateProject(pt, "kept")
	s.MustCall(map[string]any{"requestType": "saveProjectTag", "userKey": s.Admin.UserKey, "projectToken": jt, "tagKey": "tier", "tagValue": "gold"})

	var restored string
	switch tallytest.Backend() {
	case "sqlite":
		restored = filepath.Join(t.TempDir(), "copy.db")
		st, err := store.Open(context.Background(), s.DB)
		if err != nil {
			t.Fatal(err)
		}
		_, err = st.DB().Exec(`VACUUM INTO $1`, restored)
		st.Close()
		if err != nil {
			t.Fatalf("VACUUM INTO while serving: %v", err)
		}
	case "postgres":
		dump, err := exec.LookPath("pg_dump")
		if err != nil {
			t.Fatalf("pg_dump is needed to test PostgreSQL backups (it comes with the PostgreSQL client): %v", err)
		}
		file := filepath.Join(t.TempDir(), "tally.dump")
		run(t, dump, "--format=custom", "--file="+file, "--dbname="+s.DB)
		restored = tallytest.NewDatabase(t, t.TempDir())
		run(t, filepath.Join(filepath.Dir(dump), "pg_restore"), "--no-owner", "--exit-on-error", "--dbname="+restored, file)
	}
	// Writes after the backup are not in it.
	s.CreateProduct("After the backup")

	r := tallytest.Start(t, tallytest.OnDatabase(restored, s.Admin))
	m := r.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	var names []string
	for _, p := range m["products"].([]any) {
		names = append(names, p.(map[string]any)["productName"].(string))
	}
	if strings.Join(names, ",") != "Backed up" {
		t.Errorf("restored products %q, want only %q", names, "Backed up")
	}
	m = r.MustCall(map[string]any{"requestType": "getProjectTags", "userKey": s.Admin.UserKey, "projectToken": jt})
	tags := m["projectTags"].([]any)[0].(map[string]any)["tags"].(map[string]any)
	if v, _ := tags["tier"].([]any); len(v) != 1 || v[0] != "gold" {
		t.Errorf("restored project tags %v, want tier: [gold]", tags)
	}
	// The restored database takes new writes (its identity sequences were
	// restored too).
	r.CreateProject(pt, "after restore")
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), redact(args), err, out.String())
	}
}

// redact hides passwords of URLs in a command line shown in a failure.
func redact(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if u, err := url.Parse(v); err == nil && u.User != nil {
				a = k + "=" + u.Redacted()
			}
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

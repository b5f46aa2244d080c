package api_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// apiPaths are the paths real clients post the JSON API to.
var apiPaths = []string{"/api", "/api/v1.1", "/api/v1.2", "/api/v1.3", "/api/v1.4"}

// rig is a running server with a store opened on the same database, for
// seeding what the JSON API cannot create (inventories, plugin requests) and
// for checking tables directly.
type rig struct {
	*tallytest.Server
	t  *testing.T
	st *store.Store
}

func newRig(t *testing.T) *rig {
	t.Helper()
	s := tallytest.Start(t)
	st, err := store.Open(context.Background(), s.DB)
	if err != nil {
		t.Fatalf("open store on the server's database: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return &rig{Server: s, t: t, st: st}
}

func (r *rig) db() *sql.DB { return r.st.DB() }

// post sends a JSON API request to path and returns the raw body; the
// status must be 200 whatever the outcome.
func (r *rig) post(path string, req any) []byte {
	r.t.Helper()
	var body []byte
	switch v := req.(type) {
	case []byte:
		body = v
	case string:
		body = []byte(v)
	default:
		var err error
		if body, err = json.Marshal(req); err != nil {
			r.t.Fatalf("encode request: %v", err)
		}
	}
	status, b := r.Post(path, "application/json", body)
	if status != http.StatusOK {
		r.t.Fatalf("POST %s: status %d, want 200: %s", path, status, b)
	}
	return b
}

// result is a decoded API response.
type result struct {
	raw []byte
	m   map[string]any
}

func (r *rig) do(req any) result {
	r.t.Helper()
	return r.doAt("/api", req)
}

func (r *rig) doAt(path string, req any) result {
	r.t.Helper()
	raw := r.post(path, req)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		r.t.Fatalf("response is not a JSON object: %v\n%s", err, raw)
	}
	return result{raw, m}
}

// code is the response's errorCode, 0 on success.
func (res result) code() int {
	if v, ok := res.m["errorCode"].(float64); ok {
		return int(v)
	}
	return 0
}

func (res result) msg() string {
	s, _ := res.m["errorMessage"].(string)
	return s
}

// mustOK fails unless the response is a success, and checks what every
// success must satisfy: no "errorCode" text and no "errorMessage" key.
func (r *rig) mustOK(req any) result {
	r.t.Helper()
	res := r.do(req)
	if res.code() != 0 {
		r.t.Fatalf("request %v failed: %s", req, res.raw)
	}
	checkSuccessBody(r.t, res.raw)
	return res
}

// mustErr fails unless the response is the error code want.
func (r *rig) mustErr(want int, req any) result {
	r.t.Helper()
	res := r.do(req)
	checkErrorBody(r.t, res.raw, want)
	return res
}

// checkSuccessBody asserts the client-compatibility rule of success bodies.
func checkSuccessBody(t *testing.T, raw []byte) {
	t.Helper()
	if bytes.Contains(raw, []byte("errorCode")) {
		t.Errorf("success body contains the text errorCode: %s", raw)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("success body is not JSON: %v: %s", err, raw)
	}
	if hasKey(v, "errorMessage") {
		t.Errorf("success body has an errorMessage key: %s", raw)
	}
}

func hasKey(v any, key string) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == key || hasKey(e, key) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasKey(e, key) {
				return true
			}
		}
	}
	return false
}

// checkErrorBody asserts the error envelope: exactly errorCode (an int) and
// a non-empty errorMessage.
func checkErrorBody(t *testing.T, raw []byte, want int) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, raw)
	}
	code, ok := m["errorCode"].(float64)
	if !ok || int(code) != want {
		t.Fatalf("errorCode = %v, want %d: %s", m["errorCode"], want, raw)
	}
	if msg, _ := m["errorMessage"].(string); msg == "" {
		t.Errorf("errorMessage missing or empty: %s", raw)
	}
	if len(m) != 2 {
		t.Errorf("error body has keys other than errorCode and errorMessage: %s", raw)
	}
}

// Normalisation of values that differ between runs, before comparing with a
// golden file. Known tokens become named placeholders (so the golden file
// shows which token came back where); other random values become their kind,
// dates keep their format.
var (
	reToken64  = regexp.MustCompile(`\b[0-9a-f]{64}\b`)
	reUUID     = regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	reVitals   = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \+0000\b`)
	reDateTime = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\b`)
	reISO      = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z`)
	reDate     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}\b`)
)

type normalizer struct {
	names map[string]string // value → placeholder
}

func (n *normalizer) name(value, placeholder string) {
	if n.names == nil {
		n.names = map[string]string{}
	}
	n.names[value] = placeholder
}

// normalize rewrites the strings of a decoded JSON value.
func (n *normalizer) normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = n.normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = n.normalize(e)
		}
		return out
	case string:
		return n.normalizeString(x)
	}
	return v
}

func (n *normalizer) normalizeString(s string) string {
	// Longest first, so no value is replaced inside another.
	vals := make([]string, 0, len(n.names))
	for k := range n.names {
		vals = append(vals, k)
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	for _, k := range vals {
		s = strings.ReplaceAll(s, k, n.names[k])
	}
	s = reToken64.ReplaceAllString(s, "<token>")
	s = reUUID.ReplaceAllString(s, "<uuid>")
	s = reVitals.ReplaceAllString(s, "<yyyy-MM-dd HH:mm:ss +0000>")
	s = reDateTime.ReplaceAllString(s, "<yyyy-MM-dd HH:mm:ss>")
	s = reISO.ReplaceAllString(s, "<yyyy-MM-ddTHH:mm:ssZ>")
	s = reDate.ReplaceAllString(s, "<yyyy-MM-dd>")
	return s
}

// golden compares a response body, normalised, with testdata/NAME.golden.json;
// with -update it rewrites the file instead.
func golden(t *testing.T, n *normalizer, name string, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: response is not JSON: %v\n%s", name, err, raw)
	}
	got := n.normalize(v)
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(got); err != nil {
			t.Fatalf("encode golden: %v", err)
		}
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./internal/api -run %s -update to create it): %v", t.Name(), err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatalf("golden %s is not JSON: %v", path, err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s: response differs from %s (-want +got):\n%s", name, path, diff)
	}
}

// shape describes a JSON value's structure: object keys with their shapes,
// the shape of an array's elements, or the scalar's type.
func shape(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = shape(e)
		}
		return out
	case []any:
		if len(x) == 0 {
			return []any{}
		}
		// Elements of one list share a shape: merge the keys of all of them.
		merged := shape(x[0])
		for _, e := range x[1:] {
			merged = mergeShapes(merged, shape(e))
		}
		return []any{merged}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func mergeShapes(a, b any) any {
	ma, okA := a.(map[string]any)
	mb, okB := b.(map[string]any)
	if !okA || !okB {
		return a
	}
	out := map[string]any{}
	for k, v := range ma {
		out[k] = v
	}
	for k, v := range mb {
		if cur, ok := out[k]; ok {
			out[k] = mergeShapes(cur, v)
		} else {
			out[k] = v
		}
	}
	return out
}

// shapeCovers reports where got lacks what want (the spec's example) has:
// every key of want must exist in got with the same shape. An empty list in
// either says nothing about its elements; tag maps (keys chosen by users)
// are compared by their values' shape only.
func shapeCovers(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		if strings.HasSuffix(path, ".tags") {
			return tagMapCovers(w, g, path)
		}
		var out []string
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, shapeCovers(wv, gv, path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want a list, got %v", path, got)}
		}
		if len(w) == 0 || len(g) == 0 {
			return nil
		}
		return shapeCovers(w[0], g[0], path+"[]")
	default:
		if want != got {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
	}
	return nil
}

func tagMapCovers(want, got map[string]any, path string) []string {
	var wantVal, gotVal any
	for _, v := range want {
		wantVal = v
	}
	for _, v := range got {
		gotVal = v
	}
	if wantVal == nil || gotVal == nil {
		return nil
	}
	return shapeCovers(wantVal, gotVal, path+".*")
}

// dump reads every table of the database in a stable order: the snapshot
// that proves a denied or failed call changed nothing.
func (r *rig) dump() string {
	r.t.Helper()
	ctx := context.Background()
	tables := []string{}
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`
	if tallytest.Backend() == "postgres" {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
	}
	rows, err := r.db().QueryContext(ctx, q)
	if err != nil {
		r.t.Fatalf("list tables: %v", err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			r.t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var b strings.Builder
	for _, tbl := range tables {
		fmt.Fprintf(&b, "== %s\n", tbl)
		for _, line := range r.tableRows(tbl) {
			b.WriteString(line)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// tableRows returns a table's rows as sorted text lines.
func (r *rig) tableRows(table string) []string {
	r.t.Helper()
	rows, err := r.db().QueryContext(context.Background(), `SELECT * FROM `+table)
	if err != nil {
		r.t.Fatalf("read %s: %v", table, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		r.t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			r.t.Fatalf("read %s: %v", table, err)
		}
		out = append(out, fmt.Sprint(vals...))
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// count counts the rows of a table matching where (a SQL condition).
func (r *rig) count(table, where string, args ...any) int {
	r.t.Helper()
	var n int
	q := `SELECT COUNT(*) FROM ` + table
	if where != "" {
		q += ` WHERE ` + where
	}
	if err := r.db().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		r.t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func (r *rig) exec(q string, args ...any) {
	r.t.Helper()
	if _, err := r.db().ExecContext(context.Background(), q, args...); err != nil {
		r.t.Fatalf("exec %q: %v", q, err)
	}
}

// idOf returns the id of the row of table whose token is token.
func (r *rig) idOf(table, token string) int64 {
	r.t.Helper()
	var id int64
	if err := r.db().QueryRowContext(context.Background(), `SELECT id FROM `+table+` WHERE token = $1`, token).Scan(&id); err != nil {
		r.t.Fatalf("id of %s %s: %v", table, token, err)
	}
	return id
}

// lib is a library for seedInventory.
type lib struct {
	uuid, filename, name, group, artifact, version, sha1, typ string
	licenses                                                  string // JSON list
	root                                                      bool
	children                                                  []string // uuids
	matchType                                                 string
}

// seedInventory writes a project's inventory straight into the tables the
// API reads (the JSON API cannot fill inventories; /agent is its own
// component). It returns the keyIds by uuid.
func (r *rig) seedInventory(orgToken, projectToken string, libs []lib) map[string]int64 {
	r.t.Helper()
	orgID := r.idOf("orgs", orgToken)
	projectID := r.idOf("projects", projectToken)
	ids := map[string]int64{}
	for _, l := range libs {
		lic := l.licenses
		if lic == "" {
			lic = "[]"
		}
		var id int64
		err := r.db().QueryRowContext(context.Background(), `INSERT INTO libraries (org_id, key_uuid, identity, filename, name, group_id, artifact_id, version, sha1, lib_type, licenses, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
			orgID, l.uuid, "test:"+l.uuid, l.filename, l.name, l.group, l.artifact, l.version, l.sha1, l.typ, lic, int64(1500000000000)).Scan(&id)
		if err != nil {
			r.t.Fatalf("seed library %s: %v", l.name, err)
		}
		ids[l.uuid] = id
		r.exec(`INSERT INTO project_libraries (project_id, library_id, is_root, match_type) VALUES ($1, $2, $3, $4)`, projectID, id, l.root, l.matchType)
	}
	for _, l := range libs {
		for _, c := range l.children {
			r.exec(`INSERT INTO library_edges (project_id, parent_id, child_id) VALUES ($1, $2, $3)`, projectID, ids[l.uuid], ids[c])
		}
	}
	return ids
}

func (r *rig) seedSourceFile(projectToken string, libID int64, sha1, name, path string) {
	r.t.Helper()
	r.exec(`INSERT INTO source_files (project_id, library_id, sha1, name, path) VALUES ($1, $2, $3, $4, $5)`,
		r.idOf("projects", projectToken), libID, sha1, name, path)
}

// recentMillis is a time for seeded plugin requests: recent, as the server
// deletes ended requests older than its retention (30 days) while it runs,
// which would pull old seeded rows from under a test. Whole seconds, as the
// API shows them.
var recentMillis = time.Now().Add(-time.Hour).Truncate(time.Second).UnixMilli()

// seedRequest records a plugin request of a project in a given state.
func (r *rig) seedRequest(orgToken, productToken, projectToken, requestToken, state string, updatedMillis int64) {
	r.t.Helper()
	// A queued request (IN_PROGRESS, UPDATED) is held under a lease of a
	// processor that never finishes, so the server's worker does not claim
	// it (and fail it: it has no payload) while the test compares snapshots.
	r.exec(`INSERT INTO plugin_requests (org_id, token, product_id, project_id, state, created_at, updated_at, lease_owner, lease_until)
		VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)`,
		r.idOf("orgs", orgToken), requestToken, r.idOf("products", productToken), r.idOf("projects", projectToken), state, updatedMillis,
		"seeded-by-test", int64(4102444800000)) // 2100-01-01
}

// req builds a request body.
func req(requestType, userKey string, kv ...string) map[string]any {
	m := map[string]any{"requestType": requestType, "userKey": userKey}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

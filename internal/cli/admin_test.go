package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/store"
	"github.com/tallyhq/tally/internal/tallytest"
)

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// keysOf returns the sorted keys of a JSON object.
func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func wantKeys(t *testing.T, what string, m map[string]any, want ...string) {
	t.Helper()
	sort.Strings(want)
	if got := keysOf(m); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s: keys %v, want %v", what, got, want)
	}
}

func errorCode(m map[string]any) int {
	if v, ok := m["errorCode"].(float64); ok {
		return int(v)
	}
	return 0
}

// TestBootstrapFirstStart: the first start on an empty database creates an
// organization and an administrator, prints their credentials once and
// saves them in bootstrap.json, mode 0600; they work against the API; later
// starts create nothing and print nothing.
func TestBootstrapFirstStart(t *testing.T) {
	s := tallytest.Start(t)
	path := filepath.Join(s.Dir, "bootstrap.json")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("bootstrap.json: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("bootstrap.json mode %o, want 600", mode)
	}
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var creds map[string]any
	if err := json.Unmarshal(first, &creds); err != nil {
		t.Fatalf("bootstrap.json is not JSON: %v", err)
	}
	wantKeys(t, "bootstrap.json", creds, "orgName", "orgToken", "userKey", "email")
	key, _ := creds["userKey"].(string)
	org, _ := creds["orgToken"].(string)
	if !hex64.MatchString(key) || !hex64.MatchString(org) {
		t.Errorf("userKey %q and orgToken %q must be 64 hex characters", key, org)
	}
	if strings.Count(s.Logs(), key) != 1 {
		t.Errorf("the first start must print the userKey exactly once; output:\n%s", s.Logs())
	}
	d := s.Call(map[string]any{"requestType": "getOrganizationDetails", "userKey": key, "orgToken": org})
	if d["orgName"] != creds["orgName"] || d["orgToken"] != org || d["numberOfUsers"] != 1.0 {
		t.Errorf("getOrganizationDetails with the bootstrap credentials: %v", d)
	}
	s.CreateProduct("Survives restarts")

	s.Restart()
	again, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) {
		t.Errorf("bootstrap.json changed on restart")
	}
	// Logs() holds the output of the restarted server only.
	if strings.Contains(s.Logs(), key) || strings.Contains(s.Logs(), "new database") {
		t.Errorf("a restart printed the credentials again:\n%s", s.Logs())
	}
	st, err := store.Open(context.Background(), s.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.CountOrgs(context.Background()); err != nil || n != 1 {
		t.Errorf("organizations after restart: %d (%v), want 1", n, err)
	}
	m := s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": key, "orgToken": org})
	if p := m["products"].([]any); len(p) != 1 || p[0].(map[string]any)["productName"] != "Survives restarts" {
		t.Errorf("products after restart: %v", m)
	}
}

// TestCreateOrg: create-org --json prints {"orgName","orgToken","userKey","email"},
// and the new organization works at once, while the server runs, apart from
// the bootstrap one.
func TestCreateOrg(t *testing.T) {
	s := tallytest.Start(t)
	m := s.AdminJSON("create-org", "--name", "Acme Corp", "--admin-email", "root@acme.example")
	wantKeys(t, "create-org --json", m, "orgName", "orgToken", "userKey", "email")
	if m["orgName"] != "Acme Corp" || m["email"] != "root@acme.example" {
		t.Errorf("create-org output: %v", m)
	}
	key, org := m["userKey"].(string), m["orgToken"].(string)
	if !hex64.MatchString(key) || !hex64.MatchString(org) {
		t.Errorf("userKey %q / orgToken %q", key, org)
	}
	d := s.MustCall(map[string]any{"requestType": "getOrganizationDetails", "userKey": key, "orgToken": org})
	if d["orgName"] != "Acme Corp" || d["numberOfProducts"] != 0.0 {
		t.Errorf("new organization: %v", d)
	}
	s.MustCall(map[string]any{"requestType": "createProduct", "userKey": key, "orgToken": org, "productName": "Rocket"})
	// The bootstrap organization does not see it.
	b := s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken})
	if len(b["products"].([]any)) != 0 {
		t.Errorf("the bootstrap org sees another org's product: %v", b)
	}
	// Text output names the credentials too.
	out, err := s.RunCLI("admin", "create-org", "--name", "Text Org", "--admin-email", "t@text.example")
	if err != nil || !strings.Contains(out, "orgToken") || !strings.Contains(out, "userKey") {
		t.Errorf("text output: %q, %v", out, err)
	}
	// Refusals.
	for name, args := range map[string][]string{
		"email taken":   {"admin", "create-org", "--name", "Again", "--admin-email", "root@acme.example"},
		"no name":       {"admin", "create-org", "--admin-email", "x@acme.example"},
		"no email":      {"admin", "create-org", "--name", "X"},
		"unknown flag":  {"admin", "create-org", "--name", "X", "--admin-email", "y@x.example", "--colour", "red"},
		"no subcommand": {"admin"},
		"unknown sub":   {"admin", "create-everything"},
	} {
		if out, err := s.RunCLI(args...); err == nil {
			t.Errorf("%s: want an error, got %q", name, out)
		}
	}
}

// TestCreateUserRoles: create-user for every role prints
// {"email","userKey","role"}, product roles need --product-token, and each
// key works with the powers of its role.
func TestCreateUserRoles(t *testing.T) {
	s := tallytest.Start(t)
	product := s.CreateProduct("Alpha")
	other := s.CreateProduct("Beta")
	for _, role := range auth.Roles {
		t.Run(string(role), func(t *testing.T) {
			email := string(role) + "@a.example"
			args := []string{"create-user", "--org-token", s.Admin.OrgToken, "--email", email, "--role", string(role)}
			if role.ProductScoped() {
				if out, err := s.RunCLI(append([]string{"admin"}, args...)...); err == nil || !strings.Contains(err.Error(), "--product-token") {
					t.Errorf("product role without --product-token: want an error naming it, got %q, %v", out, err)
				}
				args = append(args, "--product-token", product)
			} else {
				if out, err := s.RunCLI(append([]string{"admin"}, append(args, "--product-token", product)...)...); err == nil {
					t.Errorf("org role with --product-token: want an error, got %q", out)
				}
			}
			m := s.AdminJSON(args...)
			wantKeys(t, "create-user --json", m, "email", "userKey", "role")
			if m["email"] != email || m["role"] != string(role) {
				t.Errorf("create-user output: %v", m)
			}
			key := m["userKey"].(string)
			if !hex64.MatchString(key) {
				t.Errorf("userKey %q", key)
			}
			// Every role reads its product; only org roles list the org,
			// only admins change the product, only org-admin creates.
			read := s.Call(map[string]any{"requestType": "getProductTags", "userKey": key, "productToken": product})
			list := s.Call(map[string]any{"requestType": "getAllProducts", "userKey": key, "orgToken": s.Admin.OrgToken})
			readOther := s.Call(map[string]any{"requestType": "getProductTags", "userKey": key, "productToken": other})
			write := s.Call(map[string]any{"requestType": "saveProductTag", "userKey": key, "productToken": product, "tagKey": "by", "tagValue": string(role)})
			create := s.Call(map[string]any{"requestType": "createProduct", "userKey": key, "orgToken": s.Admin.OrgToken, "productName": "by " + string(role)})
			orgRole := !role.ProductScoped()
			for _, c := range []struct {
				what  string
				m     map[string]any
				allow bool
			}{
				{"read own product", read, true},
				{"list the org", list, orgRole},
				{"read another product", readOther, orgRole},
				{"change the product", write, role == auth.OrgAdmin || role == auth.ProductAdmin},
				{"create a product", create, role == auth.OrgAdmin},
			} {
				if got := errorCode(c.m); (got == 0) != c.allow || (!c.allow && got != 5001) {
					t.Errorf("%s: %s: got %v, want allowed=%v (else 5001)", role, c.what, c.m, c.allow)
				}
			}
		})
	}
	orgB := s.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")
	for name, args := range map[string][]string{
		"email taken":             {"admin", "create-user", "--org-token", s.Admin.OrgToken, "--email", "org-admin@a.example", "--role", "org-readonly"},
		"unknown role":            {"admin", "create-user", "--org-token", s.Admin.OrgToken, "--email", "x@a.example", "--role", "superuser"},
		"unknown org":             {"admin", "create-user", "--org-token", strings.Repeat("0", 64), "--email", "x@a.example", "--role", "org-admin"},
		"unknown product":         {"admin", "create-user", "--org-token", s.Admin.OrgToken, "--email", "x@a.example", "--role", "product-member", "--product-token", "nope"},
		"product of another org":  {"admin", "create-user", "--org-token", orgB["orgToken"].(string), "--email", "x@a.example", "--role", "product-member", "--product-token", product},
		"missing email":           {"admin", "create-user", "--org-token", s.Admin.OrgToken, "--role", "org-admin"},
		"missing org token":       {"admin", "create-user", "--email", "x@a.example", "--role", "org-admin"},
		"grant to unknown user":   {"admin", "grant", "--org-token", s.Admin.OrgToken, "--email", "nobody@a.example", "--role", "org-admin"},
		"rotate for unknown user": {"admin", "rotate-key", "--email", "nobody@a.example"},
	} {
		if out, err := s.RunCLI(args...); err == nil {
			t.Errorf("%s: want an error, got %q", name, out)
		}
	}
}

// TestRotateKey: rotate-key --json prints a new key; the old one stops
// working at once, the new one works, with the same roles.
func TestRotateKey(t *testing.T) {
	s := tallytest.Start(t)
	product := s.CreateProduct("Alpha")
	old := s.CreateUser("dev@a.example", "product-admin", product)
	call := func(key string) map[string]any {
		return s.Call(map[string]any{"requestType": "saveProductTag", "userKey": key, "productToken": product, "tagKey": "k", "tagValue": "v"})
	}
	if m := call(old); errorCode(m) != 0 {
		t.Fatalf("before rotation: %v", m)
	}
	m := s.AdminJSON("rotate-key", "--email", "dev@a.example")
	wantKeys(t, "rotate-key --json", m, "email", "userKey")
	fresh, _ := m["userKey"].(string)
	if !hex64.MatchString(fresh) || fresh == old || m["email"] != "dev@a.example" {
		t.Fatalf("rotate-key output: %v", m)
	}
	if m := call(old); errorCode(m) != 1005 {
		t.Errorf("old key after rotation: %v, want errorCode 1005", m)
	}
	if m := call(fresh); errorCode(m) != 0 {
		t.Errorf("new key: %v", m)
	}
	// The bootstrap administrator's key rotates too.
	m = s.AdminJSON("rotate-key", "--email", s.Admin.Email)
	if r := s.Call(map[string]any{"requestType": "getAllProducts", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken}); errorCode(r) != 1005 {
		t.Errorf("bootstrap key after rotation: %v", r)
	}
	s.MustCall(map[string]any{"requestType": "getAllProducts", "userKey": m["userKey"], "orgToken": s.Admin.OrgToken})
}

// TestUserKeyNotStoredInClear: no user key appears in the database (the
// SQLite files' bytes, WAL included, or any column of users), which keeps
// only their SHA-256; nor in the server's logs of requests made with them.
func TestUserKeyNotStoredInClear(t *testing.T) {
	s := tallytest.Start(t)
	product := s.CreateProduct("Alpha")
	keys := []string{
		s.Admin.UserKey,
		s.CreateUser("ro@a.example", "org-readonly", ""),
		s.CreateUser("pm@a.example", "product-member", product),
		s.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")["userKey"].(string),
	}
	rotated := s.CreateUser("rot@a.example", "org-admin", "")
	keys = append(keys, rotated, s.AdminJSON("rotate-key", "--email", "rot@a.example")["userKey"].(string))
	for _, k := range keys[1:] {
		s.Call(map[string]any{"requestType": "getAllProducts", "userKey": k, "orgToken": s.Admin.OrgToken})
	}

	st, err := store.Open(context.Background(), s.DB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT * FROM users`)
	if err != nil {
		t.Fatal(err)
	}
	cols, _ := rows.Columns()
	var cells []string
	hashes := map[string]bool{}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			var s string
			switch x := v.(type) {
			case []byte:
				s = string(x)
			case string:
				s = x
			}
			cells = append(cells, s)
			if cols[i] == "key_hash" {
				hashes[s] = true
			}
		}
	}
	rows.Close()
	if len(hashes) != 5 {
		t.Errorf("want 5 users with distinct key hashes, got %d", len(hashes))
	}
	for i, k := range keys {
		for _, c := range cells {
			if strings.Contains(c, k) {
				t.Errorf("key %d is stored in clear in users", i)
			}
		}
		if i != 4 && !hashes[auth.HashKey(k)] { // keys[4] was rotated away
			t.Errorf("key %d: its hash is not stored", i)
		}
	}
	if hashes[auth.HashKey(rotated)] {
		t.Errorf("the rotated-away key's hash is still stored")
	}

	if tallytest.Backend() == "sqlite" {
		files, _ := filepath.Glob(s.DB + "*") // tally.db, -wal, -shm
		if len(files) == 0 {
			t.Fatalf("no database files at %s", s.DB)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range keys {
				if bytes.Contains(b, []byte(k)) {
					t.Errorf("key %d found in clear in %s", i, filepath.Base(f))
				}
			}
		}
	}
	// Beyond the one bootstrap print, the server never writes a key out.
	logs := s.Logs()
	for i, k := range keys[1:] {
		if strings.Contains(logs, k) {
			t.Errorf("key %d appears in the server's output", i+1)
		}
	}
}

// TestGrant: grant adds a role to a user of the organization named, and
// refuses users of another organization (roles apply in the user's own
// organization, so that would hand out powers there).
func TestGrant(t *testing.T) {
	s := tallytest.Start(t)
	p1 := s.CreateProduct("One")
	p2 := s.CreateProduct("Two")
	key := s.CreateUser("dev@a.example", "product-member", p1)
	m := s.AdminJSON("grant", "--org-token", s.Admin.OrgToken, "--email", "dev@a.example", "--role", "product-admin", "--product-token", p2)
	wantKeys(t, "grant --json", m, "email", "role")
	if r := s.Call(map[string]any{"requestType": "saveProductTag", "userKey": key, "productToken": p2, "tagKey": "k", "tagValue": "v"}); errorCode(r) != 0 {
		t.Errorf("granted product-admin on Two: %v", r)
	}
	if r := s.Call(map[string]any{"requestType": "saveProductTag", "userKey": key, "productToken": p1, "tagKey": "k", "tagValue": "v"}); errorCode(r) != 5001 {
		t.Errorf("still only a member of One: %v", r)
	}

	orgB := s.AdminJSON("create-org", "--name", "Other", "--admin-email", "b@other.example")
	outsider := s.CreateUser("ro@a.example", "org-readonly", "")
	for name, args := range map[string][]string{
		"user of another org, org role": {"admin", "grant", "--org-token", orgB["orgToken"].(string), "--email", "ro@a.example", "--role", "org-admin"},
		"product of another org":        {"admin", "grant", "--org-token", orgB["orgToken"].(string), "--email", "dev@a.example", "--role", "product-admin", "--product-token", p1},
		"product role without product":  {"admin", "grant", "--org-token", s.Admin.OrgToken, "--email", "dev@a.example", "--role", "product-admin"},
	} {
		if out, err := s.RunCLI(args...); err == nil {
			t.Errorf("%s: want an error, got %q", name, out)
		}
	}
	if r := s.Call(map[string]any{"requestType": "createProduct", "userKey": outsider, "orgToken": s.Admin.OrgToken, "productName": "x"}); errorCode(r) != 5001 {
		t.Errorf("a refused grant gave powers: %v", r)
	}
}

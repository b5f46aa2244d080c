// Package tallytest is the test rig: it runs a real Tally server (the same
// cli.Run as the binary) on a real database and a real loopback listener, and
// talks to it over HTTP. Every package's integration tests use it, so one
// suite covers every backend the rig can select.
package tallytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tallyhq/tally/internal/cli"
	"github.com/tallyhq/tally/internal/testdb"
)

// Server is a running Tally server under test.
type Server struct {
	URL string
	// DB is the database the server runs on: a SQLite path, or a
	// postgres:// URL when TALLY_TEST_POSTGRES is set (see NewDatabase).
	DB string
	// Dir is the server's data directory (bootstrap.json lives there).
	Dir string
	// Admin is the bootstrap organization and its administrator.
	Admin Credentials
	// Env is extra environment the server (and admin commands) see.
	Env map[string]string

	t      testing.TB
	cancel context.CancelFunc
	done   chan error
	logs   *syncBuffer
	client *http.Client
}

// Credentials are an organization's token and a user's key.
type Credentials struct {
	OrgName  string `json:"orgName"`
	OrgToken string `json:"orgToken"`
	UserKey  string `json:"userKey"`
	Email    string `json:"email"`
}

// Option changes how a Server starts.
type Option func(*Server)

// WithEnv sets environment variables for the server process.
func WithEnv(kv map[string]string) Option {
	return func(s *Server) {
		for k, v := range kv {
			s.Env[k] = v
		}
	}
}

// Start runs a server on a fresh database and waits until /healthz answers.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	dir := t.TempDir()
	s := &Server{t: t, Dir: dir, Env: map[string]string{}, client: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(s)
	}
	if s.DB == "" {
		s.DB = NewDatabase(t, dir)
	}
	// A PostgreSQL URL has no directory beside it: the first start writes
	// bootstrap.json to the data directory.
	if _, ok := s.Env["TALLY_DATA_DIR"]; !ok {
		s.Env["TALLY_DATA_DIR"] = dir
	}
	s.start()
	if s.Admin.OrgToken == "" {
		b, err := os.ReadFile(filepath.Join(dir, "bootstrap.json"))
		if err != nil {
			t.Fatalf("read bootstrap.json: %v", err)
		}
		if err := json.Unmarshal(b, &s.Admin); err != nil {
			t.Fatalf("parse bootstrap.json: %v", err)
		}
	}
	t.Cleanup(s.Stop)
	return s
}

// StartCluster starts n servers at the same moment on one new database, as
// a deployment behind a load balancer starts: they migrate and bootstrap the
// database together. Exactly one of them must have created the bootstrap
// organization; every returned server carries its credentials. On SQLite
// the servers share one file, which Tally supports for tests only: run
// several servers on PostgreSQL.
func StartCluster(t testing.TB, n int, opts ...Option) []*Server {
	t.Helper()
	db := NewDatabase(t, t.TempDir())
	servers := make([]*Server, n)
	for i := range servers {
		dir := t.TempDir()
		s := &Server{t: t, Dir: dir, DB: db, Env: map[string]string{"TALLY_DATA_DIR": dir}, client: &http.Client{Timeout: 60 * time.Second}}
		for _, o := range opts {
			o(s)
		}
		servers[i] = s
		t.Cleanup(s.Stop)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.startErr()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("server %d of %d: %v", i+1, n, err)
		}
	}
	var admins []Credentials
	for _, s := range servers {
		b, err := os.ReadFile(filepath.Join(s.Dir, "bootstrap.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatalf("read bootstrap.json: %v", err)
		}
		var c Credentials
		if err := json.Unmarshal(b, &c); err != nil {
			t.Fatalf("parse bootstrap.json: %v", err)
		}
		admins = append(admins, c)
	}
	if len(admins) != 1 {
		t.Fatalf("%d of %d servers starting together created the bootstrap organization, want exactly 1", len(admins), n)
	}
	for _, s := range servers {
		s.Admin = admins[0]
	}
	return servers
}

// SharingDatabase starts the server on the database of a server already
// running (several servers on one database, as behind a load balancer),
// with the same bootstrap organization and administrator. The database is
// dropped only after every server on it has stopped.
func SharingDatabase(first *Server) Option {
	return func(s *Server) {
		s.DB = first.DB
		s.Admin = first.Admin
	}
}

// OnDatabase starts the server on an existing database (a restored backup,
// say) whose bootstrap administrator is admin. The test that made the
// database removes it.
func OnDatabase(db string, admin Credentials) Option {
	return func(s *Server) {
		s.DB = db
		s.Admin = admin
	}
}

// PostgresEnv is the variable that selects PostgreSQL for the rig: a URL of
// a running PostgreSQL 15+ server for a user who may create databases.
const PostgresEnv = testdb.PostgresEnv

// Backend is "postgres" when TALLY_TEST_POSTGRES is set, else "sqlite".
func Backend() string { return testdb.Backend() }

// NewDatabase returns a new, empty database for a test and removes it when
// the test ends: a SQLite file in dir, or, when TALLY_TEST_POSTGRES is set,
// a database of its own on that PostgreSQL server (CREATE DATABASE
// tally_t_<random>, dropped in t.Cleanup, which runs after the cleanups of
// the servers started on it), returned as a postgres:// URL. Tests inside
// packages the rig imports (internal tests of ingest, store, ...) use
// testdb.New, which this is.
func NewDatabase(t testing.TB, dir string) string {
	t.Helper()
	return testdb.New(t, dir)
}

func (s *Server) getenv(k string) string {
	if v, ok := s.Env[k]; ok {
		return v
	}
	if k == "TALLY_DB" || k == "TALLY_ADDR" {
		return ""
	}
	return os.Getenv(k)
}

var listenRE = regexp.MustCompile(`listening on (http://\S+)`)

func (s *Server) start() {
	s.t.Helper()
	if err := s.startErr(); err != nil {
		s.t.Fatal(err)
	}
}

// startErr starts the server and waits for /healthz; it reports failure as
// an error so that servers can be started from several goroutines.
func (s *Server) startErr() error {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.done = make(chan error, 1)
	s.logs = &syncBuffer{}
	pr, pw := io.Pipe()
	go func() {
		err := cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", s.DB, "--log-level", "debug"}, s.getenv, strings.NewReader(""), pw, s.logs)
		pw.Close()
		s.done <- err
	}()
	urlc := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			s.logs.Write([]byte(sc.Text() + "\n"))
			if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urlc <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	select {
	case s.URL = <-urlc:
	case err := <-s.done:
		cancel()
		s.cancel = nil
		return fmt.Errorf("server exited before listening: %v\n%s", err, s.logs.String())
	case <-time.After(60 * time.Second):
		return fmt.Errorf("server did not start\n%s", s.logs.String())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := s.client.Get(s.URL + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("/healthz did not answer 200: %v\n%s", err, s.logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop shuts the server down gracefully and waits for it. Safe to call twice.
func (s *Server) Stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	select {
	case err := <-s.done:
		if err != nil {
			s.t.Errorf("server exited with error: %v\n%s", err, s.logs.String())
		}
	case <-time.After(60 * time.Second):
		s.t.Errorf("server did not stop within 60s")
	}
	s.cancel = nil
}

// Restart stops the server and starts a new one on the same database.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Logs returns what the server wrote so far.
func (s *Server) Logs() string { return s.logs.String() }

// RunCLI runs a tally subcommand against the server's database and returns
// its stdout.
func (s *Server) RunCLI(args ...string) (string, error) {
	var out, errb bytes.Buffer
	full := append([]string{}, args...)
	if len(args) > 0 && args[0] == "admin" {
		full = append(full, "--db", s.DB)
	}
	err := cli.Run(context.Background(), full, s.getenv, strings.NewReader(""), &out, &errb)
	if err != nil {
		return out.String(), fmt.Errorf("%v (stderr: %s)", err, errb.String())
	}
	return out.String(), nil
}

// AdminJSON runs `tally admin ARGS --json` and decodes its output.
func (s *Server) AdminJSON(args ...string) map[string]any {
	s.t.Helper()
	out, err := s.RunCLI(append(append([]string{"admin"}, args...), "--json")...)
	if err != nil {
		s.t.Fatalf("tally admin %v: %v", args, err)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		s.t.Fatalf("tally admin %v: output is not JSON: %v\n%s", args, err, out)
	}
	return m
}

// CreateUser adds a user to the bootstrap organization and returns their key.
// productToken is needed for product roles.
func (s *Server) CreateUser(email, role, productToken string) string {
	s.t.Helper()
	args := []string{"create-user", "--org-token", s.Admin.OrgToken, "--email", email, "--role", role}
	if productToken != "" {
		args = append(args, "--product-token", productToken)
	}
	return s.AdminJSON(args...)["userKey"].(string)
}

// Post sends body to path and returns the status and the raw response.
func (s *Server) Post(path, contentType string, body []byte) (int, []byte) {
	s.t.Helper()
	resp, err := s.client.Post(s.URL+path, contentType, bytes.NewReader(body))
	if err != nil {
		s.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("POST %s: read body: %v", path, err)
	}
	return resp.StatusCode, b
}

// CallRaw posts a JSON API request and returns the raw body; the status
// must be 200, as the protocol answers errors with 200 too.
func (s *Server) CallRaw(req any) []byte {
	s.t.Helper()
	body, err := json.Marshal(req)
	if err != nil {
		s.t.Fatalf("encode request: %v", err)
	}
	status, b := s.Post("/api/v1.4", "application/json", body)
	if status != http.StatusOK {
		s.t.Fatalf("POST /api/v1.4: status %d: %s", status, b)
	}
	return b
}

// Call posts a JSON API request and decodes the response object.
func (s *Server) Call(req any) map[string]any {
	s.t.Helper()
	b := s.CallRaw(req)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		s.t.Fatalf("response is not a JSON object: %v\n%s", err, b)
	}
	return m
}

// MustCall is Call that fails the test on an error response.
func (s *Server) MustCall(req any) map[string]any {
	s.t.Helper()
	m := s.Call(req)
	if _, ok := m["errorCode"]; ok {
		s.t.Fatalf("request %v failed: %v", req, m)
	}
	return m
}

// CreateProduct creates a product as the bootstrap admin; it returns the token.
func (s *Server) CreateProduct(name string) string {
	s.t.Helper()
	m := s.MustCall(map[string]any{"requestType": "createProduct", "userKey": s.Admin.UserKey, "orgToken": s.Admin.OrgToken, "productName": name})
	return m["productToken"].(string)
}

// CreateProject creates a project as the bootstrap admin; it returns the token.
func (s *Server) CreateProject(productToken, name string) string {
	s.t.Helper()
	m := s.MustCall(map[string]any{"requestType": "createProject", "userKey": s.Admin.UserKey, "productToken": productToken, "projectName": name})
	return m["projectToken"].(string)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tallyhq/tally/internal/agent"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/ingest"
	"github.com/tallyhq/tally/internal/server"
	"github.com/tallyhq/tally/internal/store"
)

func runServe(ctx context.Context, args []string, env *environment) error {
	fs := env.newFlags("serve")
	addr := fs.String("addr", env.envOr("TALLY_ADDR", "127.0.0.1:8080"), "listen address (env TALLY_ADDR)")
	db := env.dbFlag(fs)
	logLevel := fs.String("log-level", env.envOr("TALLY_LOG_LEVEL", "info"), "debug, info, warn or error (env TALLY_LOG_LEVEL)")
	notifyOpts := addNotifyFlags(fs, env)
	sbomOpts := addSBOMFlags(fs, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level}))

	st, err := store.Open(ctx, *db)
	if err != nil {
		return err
	}
	defer st.Close()
	// Servers starting together on one new PostgreSQL database take turns,
	// so exactly one creates the first organization.
	if err := st.Exclusive(ctx, "bootstrap", func() error { return bootstrap(ctx, st, *db, env) }); err != nil {
		return err
	}
	// notifier is the pipeline's SetupHook (ingest.Options.SetupHook).
	notifier, stopNotify, err := startNotify(ctx, st, logger, notifyOpts)
	if err != nil {
		return err
	}
	defer stopNotify()
	// The ingestion pipeline: /agent queues, the worker processes.
	pipeline := ingest.New(st, ingest.Options{Logger: logger, SetupHook: notifier})
	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	workerDone := make(chan error, 1)
	go func() { workerDone <- pipeline.Run(workerCtx) }()
	stopPipeline := sync.OnceValue(func() error { stopWorker(); return <-workerDone })
	defer stopPipeline()

	sbomHandler, err := sbomOpts.handler(pipeline, logger)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := &http.Server{
		Handler:           server.New(server.Deps{Store: st, Logger: logger, Agent: agent.New(pipeline, logger, agent.Limits{}), SBOM: sbomHandler}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	fmt.Fprintf(env.stdout, "tally: listening on http://%s\n", ln.Addr())
	logger.Info("server started", "addr", ln.Addr().String(), "db", store.Redact(*db))

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	// The worker stops after the HTTP server: a request being processed
	// is rolled back and released to the queue for the next start.
	if err := stopPipeline(); err != nil {
		return fmt.Errorf("ingest worker: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// Credentials is what create-org and the first start print.
type Credentials struct {
	OrgName  string `json:"orgName"`
	OrgToken string `json:"orgToken"`
	UserKey  string `json:"userKey"`
	Email    string `json:"email"`
}

// bootstrap creates the first organization and administrator on an empty
// database, prints their credentials once and writes them, readable only by
// the owner, beside a SQLite database (tally-data/bootstrap.json by default).
func bootstrap(ctx context.Context, st *store.Store, db string, env *environment) error {
	n, err := st.CountOrgs(ctx)
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	key := auth.NewKey()
	org, err := st.CreateOrg(ctx, "Default Organization", "admin@localhost", auth.HashKey(key))
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	creds := Credentials{OrgName: org.Name, OrgToken: org.Token, UserKey: key, Email: "admin@localhost"}
	// TALLY_DATA_DIR when set; else beside a SQLite file; else ./tally-data
	// (a database URL has no directory of its own).
	dir := env.getenv("TALLY_DATA_DIR")
	if dir == "" {
		dir = "tally-data"
		if !strings.Contains(db, "://") {
			dir = filepath.Dir(db)
		}
	}
	path := filepath.Join(dir, "bootstrap.json")
	b, err := json.MarshalIndent(creds, "", "  ")
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("bootstrap: write %s: %w", path, err)
	}
	fmt.Fprintf(env.stdout, `tally: new database: created organization %q and its administrator %s.
  orgToken: %s
  userKey:  %s
These are shown once; they are also saved in %s (mode 0600).
`, org.Name, creds.Email, creds.OrgToken, creds.UserKey, path)
	return nil
}

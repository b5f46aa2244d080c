package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/store"
)

// insertBaseline measures the floor for storing a project's data: the same
// library, inventory and edge rows inserted with the same driver and schema
// in one transaction with prepared statements, nothing else.
func insertBaseline(ctx context.Context, dsn string, p *synth.Project, pool *synth.Pool) (time.Duration, error) {
	st, err := store.Open(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	org, err := st.CreateOrg(ctx, "baseline", "baseline-"+auth.NewUUID()+"@localhost", auth.HashKey(auth.NewKey()))
	if err != nil {
		return 0, err
	}
	product, err := st.CreateProduct(ctx, org.ID, "baseline")
	if err != nil {
		return 0, err
	}
	project, err := st.CreateProject(ctx, product, p.Name, "")
	if err != nil {
		return 0, err
	}
	db := st.DB()
	start := time.Now()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("baseline begin: %w", err)
	}
	defer tx.Rollback()
	libStmt, err := tx.PrepareContext(ctx, `INSERT INTO libraries (org_id, key_uuid, identity, filename, name, group_id, artifact_id,
		version, sha1, lib_type, licenses, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`)
	if err != nil {
		return 0, fmt.Errorf("baseline prepare: %w", err)
	}
	plStmt, err := tx.PrepareContext(ctx, `INSERT INTO project_libraries (project_id, library_id, is_root, scope, match_type) VALUES ($1, $2, $3, $4, $5)`)
	if err != nil {
		return 0, fmt.Errorf("baseline prepare: %w", err)
	}
	edgeStmt, err := tx.PrepareContext(ctx, `INSERT INTO library_edges (project_id, parent_id, child_id) VALUES ($1, $2, $3)`)
	if err != nil {
		return 0, fmt.Errorf("baseline prepare: %w", err)
	}
	ids := make(map[int]int64, len(p.Libs))
	roots := map[int]bool{}
	for _, r := range p.Roots {
		roots[r] = true
	}
	now := time.Now().UnixMilli()
	for _, id := range p.Libs {
		l := pool.Library(id)
		var dbID int64
		if err := libStmt.QueryRowContext(ctx, org.ID, auth.NewUUID(), "sha1:"+l.Sha1, l.Filename, l.ArtifactID, l.GroupID, l.ArtifactID,
			l.Version, l.Sha1, "MAVEN_ARTIFACT", `["`+l.License+`"]`, now).Scan(&dbID); err != nil {
			return 0, fmt.Errorf("baseline library: %w", err)
		}
		ids[id] = dbID
		if _, err := plStmt.ExecContext(ctx, project.ID, dbID, roots[id], "compile", "SHA1"); err != nil {
			return 0, fmt.Errorf("baseline inventory: %w", err)
		}
	}
	for parent, children := range p.Children {
		for _, c := range children {
			if _, err := edgeStmt.ExecContext(ctx, project.ID, ids[parent], ids[c]); err != nil {
				return 0, fmt.Errorf("baseline edge: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("baseline commit: %w", err)
	}
	return time.Since(start), nil
}

// baselineDSN is where insert baselines run: a SQLite file of their own, or
// the PostgreSQL database under test.
func (b *bench) baselineDSN(name string) string {
	if b.cfg.db != "" {
		return b.cfg.db
	}
	return filepath.Join(b.dir, "baseline-"+name+".db")
}

// staticServer serves fixed response bytes from memory: the floor for
// answering a request over the same loopback HTTP.
type staticServer struct {
	mu     sync.RWMutex
	body   []byte
	srv    *http.Server
	ln     net.Listener
	client *client
}

func startStatic() (*staticServer, error) {
	s := &staticServer{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("static server: %w", err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = r.Body.Read(make([]byte, 512))
		s.mu.RLock()
		body := s.body
		s.mu.RUnlock()
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = w.Write(body)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	s.client = &client{http: newHTTPClient(), base: "http://" + ln.Addr().String()}
	return s, nil
}

func (s *staticServer) serve(body []byte) {
	s.mu.Lock()
	s.body = body
	s.mu.Unlock()
}

func (s *staticServer) close() { _ = s.srv.Close() }

package ingest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/auth"
	"github.com/tallyhq/tally/internal/inventory"
	"github.com/tallyhq/tally/internal/store"
)

// The ingest benchmarks measure the pipeline from Submit to FINISHED
// (queueing transaction, payload decode, load, reconcile, bulk writes, the
// finishing transaction) on a fresh SQLite database, next to the physical
// floor: the same library, project_libraries and edge rows inserted with
// prepared single-row statements in one transaction. Run:
//
//	go test ./internal/ingest -run '^$' -bench . -benchtime 5x

func benchProject(n int, seed uint64) (*synth.Project, inventory.ProjectInfo) {
	pool := synth.NewPool(synth.Maven, n*2, seed)
	proj := pool.NewProject("bench-service", n, seed)
	return proj, proj.ProjectInfo()
}

// drain processes queued requests synchronously until none is left.
func drain(b *testing.B, p *Pipeline) {
	for {
		did, err := p.processNext(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if !did {
			return
		}
	}
}

func benchmarkIngest(b *testing.B, n int) {
	_, info := benchProject(n, 42)
	libs := 0
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		p := New(e.st, Options{})
		b.StartTimer()
		res, err := p.Submit(context.Background(), e.submission("", info))
		if err != nil {
			b.Fatal(err)
		}
		drain(b, p)
		b.StopTimer()
		if st := e.state(b, res.RequestToken); st != store.RequestFinished {
			b.Fatalf("request ended %s", st)
		}
		libs = len(e.names(b, res.ProjectNamesToIDs["bench-service"]))
		b.StartTimer()
	}
	b.ReportMetric(float64(libs)*float64(b.N)/b.Elapsed().Seconds(), "libs/s")
}

func BenchmarkIngest1k(b *testing.B)  { benchmarkIngest(b, 1000) }
func BenchmarkIngest10k(b *testing.B) { benchmarkIngest(b, 10000) }

// BenchmarkReingest10kChanged5pct: the same 10,000-library project sent
// again with 5% of its libraries replaced (the common CI case).
func BenchmarkReingest10kChanged5pct(b *testing.B) {
	proj, info := benchProject(10000, 42)
	changed := proj.Mutate(0.05, 7).ProjectInfo()
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		p := New(e.st, Options{})
		if _, err := p.Submit(context.Background(), e.submission("", info)); err != nil {
			b.Fatal(err)
		}
		drain(b, p)
		next := changed
		b.StartTimer()
		if _, err := p.Submit(context.Background(), e.submission("", next)); err != nil {
			b.Fatal(err)
		}
		drain(b, p)
	}
	b.ReportMetric(10000*float64(b.N)/b.Elapsed().Seconds(), "libs/s")
}

// BenchmarkRawInsert10k is the floor: the rows a 10,000-library ingest
// stores, inserted with prepared statements in one transaction.
func BenchmarkRawInsert10k(b *testing.B) {
	proj, info := benchProject(10000, 42)
	g, err := inventory.Flatten(info.Dependencies, &inventory.Budget{Limits: inventory.DefaultLimits})
	if err != nil {
		b.Fatal(err)
	}
	_ = proj
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		prod, err := e.st.CreateProduct(context.Background(), e.org.ID, "Prod")
		if err != nil {
			b.Fatal(err)
		}
		project, err := e.st.CreateProject(context.Background(), prod, "bench-service", "")
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := rawInsert(e.st, e.org.ID, project.ID, &g); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(g.Libs))*float64(b.N)/b.Elapsed().Seconds(), "libs/s")
}

func rawInsert(st *store.Store, orgID, projectID int64, g *inventory.Graph) error {
	ctx := context.Background()
	return st.Tx(ctx, func(tx *sql.Tx) error {
		libStmt, err := tx.PrepareContext(ctx, `INSERT INTO libraries (org_id, key_uuid, identity, filename, name, group_id, artifact_id, version, sha1,
			lib_type, classifier, extension, purl, licenses, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`)
		if err != nil {
			return err
		}
		defer libStmt.Close()
		plStmt, err := tx.PrepareContext(ctx, `INSERT INTO project_libraries (project_id, library_id, is_root, scope, match_type, system_path) VALUES ($1, $2, $3, $4, $5, $6)`)
		if err != nil {
			return err
		}
		defer plStmt.Close()
		edgeStmt, err := tx.PrepareContext(ctx, `INSERT INTO library_edges (project_id, parent_id, child_id) VALUES ($1, $2, $3)`)
		if err != nil {
			return err
		}
		defer edgeStmt.Close()
		now := time.Now().UnixMilli()
		ids := make([]int64, len(g.Libs))
		for i := range g.Libs {
			l := &g.Libs[i]
			lic, _ := json.Marshal(l.Licenses)
			if err := libStmt.QueryRowContext(ctx, orgID, auth.NewUUID(), l.Identity, l.Filename, l.Name, l.GroupID, l.ArtifactID, l.Version, l.Sha1,
				l.Type, l.Classifier, l.Extension, l.Purl, string(lic), now).Scan(&ids[i]); err != nil {
				return fmt.Errorf("library: %w", err)
			}
			if _, err := plStmt.ExecContext(ctx, projectID, ids[i], l.Root, l.Scope, l.MatchType, l.SystemPath); err != nil {
				return fmt.Errorf("project library: %w", err)
			}
		}
		for _, e := range g.Edges {
			if _, err := edgeStmt.ExecContext(ctx, projectID, ids[e[0]], ids[e[1]]); err != nil {
				return fmt.Errorf("edge: %w", err)
			}
		}
		return nil
	})
}

// BenchmarkIngestMany300: many 300-library projects queued at once and
// processed (the --scale load), per request.
func BenchmarkIngestMany300(b *testing.B) { benchmarkMany(b, 300) }
func BenchmarkIngestMany1(b *testing.B)   { benchmarkMany(b, 1) }

func benchmarkMany(b *testing.B, n int) {
	pool := synth.NewPool(synth.Maven, 20000, 3)
	infos := make([]inventory.ProjectInfo, b.N)
	for i := range infos {
		infos[i] = pool.NewProject(fmt.Sprintf("svc-%d", i), n, uint64(i)).ProjectInfo()
	}
	e := newEnv(b)
	p := New(e.st, Options{})
	b.ResetTimer()
	for i := range infos {
		if _, err := p.Submit(context.Background(), e.submission("", infos[i])); err != nil {
			b.Fatal(err)
		}
	}
	drain(b, p)
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "libs/s")
}

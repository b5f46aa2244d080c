package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tallyhq/tally/bench/synth"
	"github.com/tallyhq/tally/internal/inventory"
)

type bench struct {
	cfg     config
	log     io.Writer
	dir     string
	proc    *process
	c       *client
	static  *staticServer
	results []Result
}

func (b *bench) backend() string {
	if b.cfg.db != "" {
		return "PostgreSQL"
	}
	return "SQLite"
}

func (b *bench) logf(format string, args ...any) { fmt.Fprintf(b.log, format+"\n", args...) }

func (b *bench) add(r Result) { b.results = append(b.results, r) }

func (b *bench) run(ctx context.Context) ([]Result, error) {
	var err error
	if b.dir, err = os.MkdirTemp("", "tallybench-"); err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	if !b.cfg.keepDir {
		defer os.RemoveAll(b.dir)
	}
	bin, err := buildTally(ctx, b.dir, b.cfg.bin)
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(b.dir + "/server.log")
	if err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	defer logf.Close()
	if b.proc, err = startTally(ctx, bin, b.dir, b.cfg.db, logf); err != nil {
		return nil, err
	}
	defer b.proc.stop()
	b.c = &client{http: newHTTPClient(), base: b.proc.url, orgToken: b.proc.orgToken, userKey: b.proc.userKey}
	if b.static, err = startStatic(); err != nil {
		return nil, err
	}
	defer b.static.close()

	maven := synth.NewPool(synth.Maven, 3*max(b.cfg.small, b.cfg.large), b.cfg.seed)
	npm := synth.NewPool(synth.NPM, 3*max(b.cfg.small, b.cfg.large), b.cfg.seed+1)

	// Ingest: a new small project several times (p50), then the large one.
	b.logf("ingest: %d x %d-library project", b.cfg.ingestReps, b.cfg.small)
	var smallTimes, coldReads []time.Duration
	var small *synth.Project
	for i := range b.cfg.ingestReps {
		p := maven.NewProject(fmt.Sprintf("small-%d", i), b.cfg.small, b.cfg.seed+uint64(i))
		if i == 0 {
			small = p
		}
		d, token, err := b.ingestProject(ctx, "bench", p.ProjectInfo(), "OVERRIDE")
		if err != nil {
			return nil, err
		}
		smallTimes = append(smallTimes, d)
		// The first read after an update renders the response (later
		// reads of the same version come from the response cache).
		body := b.c.apiBody(map[string]any{"requestType": "getProjectHierarchy", "projectToken": token})
		start := time.Now()
		if _, err := b.c.post(ctx, "/api/v1.4", "application/json", body); err != nil {
			return nil, err
		}
		coldReads = append(coldReads, time.Since(start))
	}
	smallBase, err := insertBaseline(ctx, b.baselineDSN("small"), small, maven)
	if err != nil {
		return nil, err
	}
	p50 := percentile(smallTimes, 50)
	b.add(figure(fmt.Sprintf("ingest %d libraries to FINISHED (p50)", b.cfg.small), ms(p50), "ms", ms(smallBase)).
		target("< 150 ms", ms(p50) < 150))
	b.add(figure(fmt.Sprintf("ingest %d libraries rate", b.cfg.small), float64(b.cfg.small)/p50.Seconds(), "libraries/s",
		float64(b.cfg.small)/smallBase.Seconds()))
	b.add(figure(fmt.Sprintf("getProjectHierarchy %d libraries, first read after the update (p50)", b.cfg.small), ms(percentile(coldReads, 50)), "ms", 0))

	b.logf("ingest: %d-library project", b.cfg.large)
	large := npm.NewProject("large", b.cfg.large, b.cfg.seed+100)
	d, err := b.ingest(ctx, "bench", large.ProjectInfo(), "OVERRIDE")
	if err != nil {
		return nil, err
	}
	largeBase, err := insertBaseline(ctx, b.baselineDSN("large"), large, npm)
	if err != nil {
		return nil, err
	}
	rate := float64(b.cfg.large) / d.Seconds()
	b.add(figure(fmt.Sprintf("ingest %d libraries to FINISHED", b.cfg.large), ms(d), "ms", ms(largeBase)).
		target("<= 3x insert baseline", d <= 3*largeBase))
	b.add(figure(fmt.Sprintf("ingest %d libraries rate", b.cfg.large), rate, "libraries/s", float64(b.cfg.large)/largeBase.Seconds()).
		target(">= 20000 libraries/s", rate >= 20000))

	b.logf("re-ingest: %d-library project, 5%% changed", b.cfg.large)
	changed := large.Mutate(0.05, b.cfg.seed+200)
	d, err = b.ingest(ctx, "bench", changed.ProjectInfo(), "OVERRIDE")
	if err != nil {
		return nil, err
	}
	b.add(figure(fmt.Sprintf("re-ingest %d libraries, 5%% changed", b.cfg.large), ms(d), "ms", ms(largeBase)))

	if b.cfg.sbom != "" {
		if err := b.sbomFigure(ctx); err != nil {
			return nil, err
		}
	}
	if b.cfg.sbomSynth > 0 {
		if err := b.synthSBOMFigure(ctx, npm, b.cfg.sbomSynth); err != nil {
			return nil, err
		}
	}

	productToken, err := b.productToken(ctx, "bench")
	if err != nil {
		return nil, err
	}
	smallToken, err := b.c.projectToken(ctx, productToken, small.Name)
	if err != nil {
		return nil, err
	}
	largeToken, err := b.c.projectToken(ctx, productToken, "large")
	if err != nil {
		return nil, err
	}
	before, err := b.reads(ctx, "", smallToken, largeToken, nil)
	if err != nil {
		return nil, err
	}
	if b.cfg.sweep != "" {
		if err := b.sizeSweep(ctx, npm, productToken); err != nil {
			return nil, err
		}
	}
	if b.cfg.scale {
		if err := b.scaleLoad(ctx, maven, smallToken); err != nil {
			return nil, err
		}
		if _, err := b.reads(ctx, fmt.Sprintf("at scale (%d projects): ", b.cfg.scaleProjects), smallToken, largeToken, before); err != nil {
			return nil, err
		}
		if b.proc.dbPath != "" {
			size, err := dbSize(b.proc.dbPath)
			if err != nil {
				return nil, err
			}
			b.add(figure("database size at scale", float64(size)/(1<<20), "MiB", 0))
		}
	}
	rss, err := b.proc.peakRSS()
	if err != nil {
		return nil, err
	}
	r := figure("server peak RSS", float64(rss)/(1<<20), "MiB", 0)
	if b.cfg.scale {
		r = r.target("< 300 MiB", rss < 300<<20)
	}
	b.add(r)
	return b.results, nil
}

// ingest uploads one project and waits for FINISHED, returning the time
// from POST to FINISHED.
func (b *bench) ingest(ctx context.Context, product string, p inventory.ProjectInfo, updateType string) (time.Duration, error) {
	d, _, err := b.ingestProject(ctx, product, p, updateType)
	return d, err
}

// ingestProject is ingest that also returns the project's token.
func (b *bench) ingestProject(ctx context.Context, product string, p inventory.ProjectInfo, updateType string) (time.Duration, string, error) {
	diff, err := encodeDiff([]inventory.ProjectInfo{p})
	if err != nil {
		return 0, "", err
	}
	form := b.c.agentForm(product, updateType, diff)
	start := time.Now()
	token, projects, err := b.c.upload(ctx, form)
	if err != nil {
		return 0, "", err
	}
	if err := b.c.waitFinished(ctx, token); err != nil {
		return 0, "", err
	}
	return time.Since(start), projects[p.Coordinates.ArtifactID], nil
}

func (b *bench) productToken(ctx context.Context, name string) (string, error) {
	m, err := b.c.api(ctx, map[string]any{"requestType": "getAllProducts", "orgToken": b.c.orgToken})
	if err != nil {
		return "", err
	}
	for _, p := range m["products"].([]any) {
		pm := p.(map[string]any)
		if pm["productName"] == name {
			return pm["productToken"].(string), nil
		}
	}
	return "", fmt.Errorf("no product %q", name)
}

// readFigures are the read figures of one database state as ratios to their
// static baselines, for comparing the same figures at scale.
type readFigures map[string]float64

// reads measures hierarchy and inventory latency and small-call throughput,
// each next to the static-bytes baseline. With before set, each figure also
// gets a target against the small-database figure.
func (b *bench) reads(ctx context.Context, prefix, smallToken, largeToken string, before readFigures) (readFigures, error) {
	out := readFigures{}
	type lat struct {
		name, requestType, token string
		reps                     int
		targetP50                float64
	}
	lats := []lat{
		{fmt.Sprintf("getProjectHierarchy %d libraries", b.cfg.small), "getProjectHierarchy", smallToken, b.cfg.readReps, 10},
		{fmt.Sprintf("getProjectInventory %d libraries", b.cfg.small), "getProjectInventory", smallToken, b.cfg.readReps, 0},
		{fmt.Sprintf("getProjectHierarchy %d libraries", b.cfg.large), "getProjectHierarchy", largeToken, max(b.cfg.readReps/5, 20), 0},
		{fmt.Sprintf("getProjectInventory %d libraries", b.cfg.large), "getProjectInventory", largeToken, max(b.cfg.readReps/5, 20), 0},
	}
	for _, l := range lats {
		b.logf("%s%s", prefix, l.name)
		body := b.c.apiBody(map[string]any{"requestType": l.requestType, "projectToken": l.token})
		resp, err := b.c.post(ctx, "/api/v1.4", "application/json", body)
		if err != nil {
			return nil, err
		}
		ds, err := latencies(ctx, l.reps, func() error { _, err := b.c.post(ctx, "/api/v1.4", "application/json", body); return err })
		if err != nil {
			return nil, err
		}
		b.static.serve(resp)
		base, err := latencies(ctx, l.reps, func() error { _, err := b.static.client.post(ctx, "/", "application/json", body); return err })
		if err != nil {
			return nil, err
		}
		for _, p := range []float64{50, 99} {
			name := fmt.Sprintf("%s%s p%.0f", prefix, l.name, p)
			v := ms(percentile(ds, p))
			r := figure(name, v, "ms", ms(percentile(base, p)))
			key := fmt.Sprintf("%s p%.0f", l.name, p)
			switch {
			case before != nil:
				// Compared as ratios to the static baseline of the same
				// moment, as absolute times drift on a shared machine.
				prev := before[key]
				r = r.target(fmt.Sprintf("ratio <= 1.5x small database's (%.3g)", prev), *r.Ratio <= 1.5*prev)
			case l.targetP50 > 0 && p == 50:
				r = r.target(fmt.Sprintf("< %.0f ms and <= 3x static", l.targetP50), v < l.targetP50 && r.Ratio != nil && *r.Ratio <= 3)
			}
			out[key] = *r.Ratio
			b.add(r)
		}
	}
	for _, rt := range []string{"getProjectTags", "getProjectState"} {
		b.logf("%s%s throughput", prefix, rt)
		body := b.c.apiBody(map[string]any{"requestType": rt, "projectToken": smallToken})
		resp, err := b.c.post(ctx, "/api/v1.4", "application/json", body)
		if err != nil {
			return nil, err
		}
		rps, err := throughput(ctx, b.cfg.smallCalls, b.cfg.clients, func() error {
			_, err := b.c.post(ctx, "/api/v1.4", "application/json", body)
			return err
		})
		if err != nil {
			return nil, err
		}
		b.static.serve(resp)
		base, err := throughput(ctx, b.cfg.smallCalls, b.cfg.clients, func() error {
			_, err := b.static.client.post(ctx, "/", "application/json", body)
			return err
		})
		if err != nil {
			return nil, err
		}
		name := fmt.Sprintf("%s throughput, %d clients", rt, b.cfg.clients)
		r := figure(prefix+name, rps, "requests/s", base)
		if before != nil {
			prev := before[name]
			r = r.target(fmt.Sprintf("ratio >= small database's / 1.5 (%.3g)", prev), *r.Ratio >= prev/1.5)
		} else {
			r = r.target(">= 10000/s and >= 0.3x static", rps >= 10000 && *r.Ratio >= 0.3)
		}
		out[name] = *r.Ratio
		b.add(r)
	}
	return out, nil
}

func latencies(ctx context.Context, n int, fn func() error) ([]time.Duration, error) {
	out := make([]time.Duration, 0, n)
	for range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := fn(); err != nil {
			return nil, err
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

func throughput(ctx context.Context, total, clients int, fn func() error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(total) && ctx.Err() == nil {
				if err := fn(); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

// scaleLoad loads many projects through the real ingestion path, in
// parallel, and waits until every one is FINISHED.
// At checkpoints (a tenth, a third and all of the projects) it measures the
// hierarchy p50 of the small project and getProjectState throughput, to show
// how cost grows with the project count.
func (b *bench) scaleLoad(ctx context.Context, pool *synth.Pool, smallToken string) error {
	n := b.cfg.scaleProjects
	b.logf("scale: loading %d projects of %d libraries", n, b.cfg.scaleLibs)
	start := time.Now()
	var loadTime time.Duration
	var next atomic.Int64
	for _, upto := range []int{n / 10, n / 3, n} {
		t0 := time.Now()
		if err := b.loadProjects(ctx, pool, &next, upto, start); err != nil {
			return err
		}
		loadTime += time.Since(t0)
		if err := b.checkpoint(ctx, upto, smallToken); err != nil {
			return err
		}
	}
	b.add(figure(fmt.Sprintf("scale load %d x %d libraries", n, b.cfg.scaleLibs), loadTime.Seconds(), "s", 0))
	b.add(figure("scale load rate", float64(n*b.cfg.scaleLibs)/loadTime.Seconds(), "libraries/s", 0))
	return nil
}

// checkpoint measures the small project's hierarchy p50 and getProjectState
// throughput with projects projects in the database.
func (b *bench) checkpoint(ctx context.Context, projects int, smallToken string) error {
	body := b.c.apiBody(map[string]any{"requestType": "getProjectHierarchy", "projectToken": smallToken})
	ds, err := latencies(ctx, 50, func() error { _, err := b.c.post(ctx, "/api/v1.4", "application/json", body); return err })
	if err != nil {
		return err
	}
	b.add(figure(fmt.Sprintf("count sweep: getProjectHierarchy %d libraries p50 with %d projects", b.cfg.small, projects), ms(percentile(ds, 50)), "ms", 0))
	state := b.c.apiBody(map[string]any{"requestType": "getProjectState", "projectToken": smallToken})
	rps, err := throughput(ctx, 5000, b.cfg.clients, func() error { _, err := b.c.post(ctx, "/api/v1.4", "application/json", state); return err })
	if err != nil {
		return err
	}
	b.add(figure(fmt.Sprintf("count sweep: getProjectState throughput with %d projects", projects), rps, "requests/s", 0))
	return nil
}

// loadProjects uploads projects next..upto-1 in parallel.
func (b *bench) loadProjects(ctx context.Context, pool *synth.Pool, next *atomic.Int64, upto int, start time.Time) error {
	n := b.cfg.scaleProjects
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for range b.cfg.scaleParallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(upto) || ctx.Err() != nil || firstErr.Load() != nil {
					if i >= int64(upto) {
						next.Add(-1)
					}
					return
				}
				p := pool.NewProject(fmt.Sprintf("scale-%05d", i), b.cfg.scaleLibs, b.cfg.seed+1000+uint64(i))
				if _, err := b.ingest(ctx, fmt.Sprintf("scale-%02d", i%20), p.ProjectInfo(), "OVERRIDE"); err != nil {
					firstErr.CompareAndSwap(nil, fmt.Errorf("scale project %d: %w", i, err))
					return
				}
				if i%500 == 0 {
					b.logf("scale: %d/%d after %s", i, n, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return nil
}

// sizeSweep ingests new projects of each size of --sweep and measures the
// time to FINISHED and the hierarchy p50, to show how cost grows with the
// inventory size.
func (b *bench) sizeSweep(ctx context.Context, pool *synth.Pool, productToken string) error {
	for _, f := range strings.Split(b.cfg.sweep, ",") {
		size, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || size <= 0 {
			return fmt.Errorf("--sweep: bad size %q", f)
		}
		b.logf("size sweep: %d libraries", size)
		name := fmt.Sprintf("sweep-%d", size)
		p := pool.NewProject(name, size, b.cfg.seed+uint64(size))
		d, err := b.ingest(ctx, "bench", p.ProjectInfo(), "OVERRIDE")
		if err != nil {
			return err
		}
		b.add(figure(fmt.Sprintf("size sweep: ingest %d libraries", size), ms(d), "ms", 0))
		token, err := b.c.projectToken(ctx, productToken, name)
		if err != nil {
			return err
		}
		body := b.c.apiBody(map[string]any{"requestType": "getProjectHierarchy", "projectToken": token})
		ds, err := latencies(ctx, 30, func() error { _, err := b.c.post(ctx, "/api/v1.4", "application/json", body); return err })
		if err != nil {
			return err
		}
		b.add(figure(fmt.Sprintf("size sweep: getProjectHierarchy %d libraries p50", size), ms(percentile(ds, 50)), "ms", 0))
	}
	return nil
}

// sbomFigure ingests the --sbom file through POST /sbom (the path of
// tally upload) and measures the time from the POST to FINISHED.
func (b *bench) sbomFigure(ctx context.Context) error {
	doc, err := os.ReadFile(b.cfg.sbom)
	if err != nil {
		return fmt.Errorf("--sbom: %w", err)
	}
	return b.sbomUpload(ctx, filepath.Base(b.cfg.sbom), doc)
}

// synthSBOMFigure ingests a generated npm-like CycloneDX SBOM of n
// components through POST /sbom.
func (b *bench) synthSBOMFigure(ctx context.Context, pool *synth.Pool, n int) error {
	doc, err := synth.CycloneDX(pool.NewProject("synth-sbom", n, b.cfg.seed+300))
	if err != nil {
		return err
	}
	return b.sbomUpload(ctx, fmt.Sprintf("synthetic-npm-%d.cdx.json", n), doc)
}

func (b *bench) sbomUpload(ctx context.Context, name string, doc []byte) error {
	b.logf("sbom: %s (%d bytes)", name, len(doc))
	q := url.Values{"product": {"bench-sbom"}, "project": {"sbom-" + name}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.c.base+"/sbom?"+q.Encode(), bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("sbom request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Org-Token", b.c.orgToken)
	req.Header.Set("X-User-Key", b.c.userKey)
	start := time.Now()
	resp, err := b.c.http.Do(req)
	if err != nil {
		return fmt.Errorf("POST /sbom: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return fmt.Errorf("POST /sbom: read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /sbom: status %d: %.300s", resp.StatusCode, body)
	}
	var res struct {
		RequestToken string `json:"requestToken"`
		SBOM         struct {
			Format     string `json:"format"`
			Components int    `json:"components"`
		} `json:"sbom"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return fmt.Errorf("POST /sbom: %w", err)
	}
	if err := b.c.waitFinished(ctx, res.RequestToken); err != nil {
		return err
	}
	d := time.Since(start)
	name = fmt.Sprintf("SBOM %s (%s, %d components) to FINISHED", name, res.SBOM.Format, res.SBOM.Components)
	b.add(figure(name, ms(d), "ms", 0))
	b.add(figure(name+" rate", float64(res.SBOM.Components)/d.Seconds(), "components/s", 0))
	return nil
}

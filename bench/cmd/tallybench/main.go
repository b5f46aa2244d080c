// Command tallybench measures Tally against physical baselines measured in
// the same run: it builds seeded synthetic inventories, runs a Tally server
// as a separate process on a temporary database, drives it over loopback
// HTTP with keep-alive clients, and prints a markdown table and a JSON file
// of results. See bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "tallybench:", err)
		os.Exit(1)
	}
}

type config struct {
	small, large  int
	seed          uint64
	db            string
	out           string
	bin           string
	sbom          string
	scale         bool
	scaleProjects int
	scaleLibs     int
	readReps      int
	smallCalls    int
	clients       int
	ingestReps    int
	scaleParallel int
	keepDir       bool
	sweep         string
	sbomSynth     int
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tallybench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.IntVar(&c.small, "small", 1000, "libraries in the small project")
	fs.IntVar(&c.large, "large", 10000, "libraries in the large project")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the synthetic inventories")
	fs.StringVar(&c.db, "db", "", "database: empty for a temporary SQLite file, or a postgres:// URL of an empty database")
	fs.StringVar(&c.out, "out", "bench-results.json", "JSON results file")
	fs.StringVar(&c.bin, "tally-bin", "", "tally binary to run (default: go build ./cmd/tally)")
	fs.StringVar(&c.sbom, "sbom", "", "a CycloneDX or SPDX JSON SBOM to ingest through the upload path")
	fs.IntVar(&c.sbomSynth, "sbom-synth", 1115, "components of a generated npm-like CycloneDX SBOM ingested through the upload path (0: none)")
	fs.BoolVar(&c.scale, "scale", false, "also load many projects and measure again")
	fs.IntVar(&c.scaleProjects, "scale-projects", 10000, "projects loaded with --scale")
	fs.IntVar(&c.scaleLibs, "scale-libs", 300, "libraries per project loaded with --scale")
	fs.IntVar(&c.scaleParallel, "scale-parallel", 8, "concurrent uploads while loading with --scale")
	fs.IntVar(&c.readReps, "read-reps", 200, "requests per latency figure")
	fs.IntVar(&c.smallCalls, "small-calls", 20000, "requests per throughput figure")
	fs.IntVar(&c.clients, "clients", 16, "concurrent clients for throughput figures")
	fs.IntVar(&c.ingestReps, "ingest-reps", 7, "runs of the small ingest (p50 is reported)")
	fs.BoolVar(&c.keepDir, "keep", false, "keep the temporary directory")
	fs.StringVar(&c.sweep, "sweep", "", "comma-separated inventory sizes to measure ingest and read cost at, e.g. 250,1000,4000,10000")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b := &bench{cfg: c, log: stderr}
	results, err := b.run(ctx)
	if err != nil {
		return err
	}
	printTable(stdout, results, b.machine())
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(c.out, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", c.out, err)
	}
	fmt.Fprintf(stderr, "results written to %s\n", c.out)
	return nil
}

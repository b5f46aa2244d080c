// Command plot renders tallybench results (the JSON of --sweep and --scale
// runs) as PNG charts: cost against inventory size, and against the number of
// projects. It is a module of its own so the server's module does not carry
// the plotting library.
//
//	cd bench/plot && go run . -in ../../bench-results.json -out ../../docs
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

type result struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// series collects (x, value) points of the results whose name matches re,
// whose first group is x.
func series(rs []result, re *regexp.Regexp) plotter.XYs {
	var pts plotter.XYs
	for _, r := range rs {
		m := re.FindStringSubmatch(r.Name)
		if m == nil {
			continue
		}
		x, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			continue
		}
		pts = append(pts, plotter.XY{X: x, Y: r.Value})
	}
	sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
	return pts
}

func chart(title, xLabel, yLabel string, lines map[string]plotter.XYs, out string) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xLabel
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	var args []any
	names := make([]string, 0, len(lines))
	for name := range lines {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if len(lines[name]) == 0 {
			continue
		}
		args = append(args, name, lines[name])
	}
	if len(args) == 0 {
		return fmt.Errorf("%s: no data points in the results", title)
	}
	if err := plotutil.AddLinePoints(p, args...); err != nil {
		return fmt.Errorf("%s: %w", title, err)
	}
	// From zero, with room above the lines for the legend.
	p.Y.Min = 0
	p.Y.Max *= 1.3
	p.X.Min = 0
	p.Legend.Top = true
	p.Legend.Left = true
	if err := p.Save(7*vg.Inch, 4*vg.Inch, out); err != nil {
		return fmt.Errorf("save %s: %w", out, err)
	}
	return nil
}

func main() {
	in := flag.String("in", "bench-results.json", "tallybench JSON results")
	outDir := flag.String("out", ".", "directory for the PNG files")
	flag.Parse()
	data, err := os.ReadFile(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "plot:", err)
		os.Exit(1)
	}
	var rs []result
	if err := json.Unmarshal(data, &rs); err != nil {
		fmt.Fprintln(os.Stderr, "plot: parse results:", err)
		os.Exit(1)
	}
	errs := []error{
		chart("Cost against inventory size (SQLite, 2 cores)", "libraries in the project", "milliseconds", map[string]plotter.XYs{
			"ingest to FINISHED":        series(rs, regexp.MustCompile(`^size sweep: ingest (\d+) libraries$`)),
			"getProjectHierarchy (p50)": series(rs, regexp.MustCompile(`^size sweep: getProjectHierarchy (\d+) libraries p50$`)),
		}, filepath.Join(*outDir, "perf-size.png")),
		chart("Reads against project count (SQLite, 2 cores)", "projects in the organization", "ms (hierarchy p50) / thousand requests/s (state)", map[string]plotter.XYs{
			"getProjectHierarchy 1,000 libraries p50 (ms)": series(rs, regexp.MustCompile(`^count sweep: getProjectHierarchy \d+ libraries p50 with (\d+) projects$`)),
			"getProjectState throughput (thousand/s)":      scale(series(rs, regexp.MustCompile(`^count sweep: getProjectState throughput with (\d+) projects$`)), 0.001),
		}, filepath.Join(*outDir, "perf-projects.png")),
	}
	failed := false
	for _, err := range errs {
		if err != nil {
			fmt.Fprintln(os.Stderr, "plot:", err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func scale(pts plotter.XYs, f float64) plotter.XYs {
	for i := range pts {
		pts[i].Y *= f
	}
	return pts
}

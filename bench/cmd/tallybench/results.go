package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Result is one measured figure next to its baseline.
type Result struct {
	Name     string   `json:"name"`
	Value    float64  `json:"value"`
	Unit     string   `json:"unit"`
	Baseline *float64 `json:"baseline"`
	Ratio    *float64 `json:"ratio"`
	Target   string   `json:"target"`
	Met      *bool    `json:"met"`
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func round(v float64) float64 {
	if v == 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return v
	}
	digits := 3 - int(math.Floor(math.Log10(math.Abs(v))))
	if digits < 0 {
		digits = 0
	}
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// figure builds a result; baseline 0 means none. ratio is value/baseline.
func figure(name string, value float64, unit string, baseline float64) Result {
	r := Result{Name: name, Value: round(value), Unit: unit}
	if baseline > 0 {
		b, q := round(baseline), round(value/baseline)
		r.Baseline, r.Ratio = &b, &q
	}
	return r
}

func (r Result) target(desc string, met bool) Result {
	r.Target = desc
	r.Met = &met
	return r
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func (b *bench) machine() string {
	host, _ := os.Hostname()
	cpu := "unknown CPU"
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs (%s), %s, %s, backend %s", host, runtime.NumCPU(), cpu, runtime.Version(), time.Now().UTC().Format("2006-01-02"), b.backend())
}

func printTable(w io.Writer, rs []Result, machine string) {
	fmt.Fprintf(w, "Machine: %s\n\n", machine)
	fmt.Fprintln(w, "| figure | value | unit | baseline | ratio | target | met |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---|---|")
	for _, r := range rs {
		base, ratio, met := "", "", ""
		if r.Baseline != nil {
			base = fmt.Sprint(*r.Baseline)
			ratio = fmt.Sprint(*r.Ratio)
		}
		if r.Met != nil {
			met = "no"
			if *r.Met {
				met = "yes"
			}
		}
		fmt.Fprintf(w, "| %s | %v | %s | %s | %s | %s | %s |\n", r.Name, r.Value, r.Unit, base, ratio, r.Target, met)
	}
}

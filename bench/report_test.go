//go:build bench

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// figure is one measured quantity over several runs.
type figure struct {
	Median float64   `json:"median"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	Runs   []float64 `json:"runs"`
}

func fig(runs ...float64) figure {
	if len(runs) == 0 {
		return figure{}
	}
	s := slices.Clone(runs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return figure{Median: m, Min: s[0], Max: s[len(s)-1], Runs: runs}
}

// row is one line of BENCHMARKS.md: a catalog figure and, where there is
// one, the raw limit of the part underneath, measured in the same run.
type row struct {
	Section  string  `json:"section"`
	Measure  string  `json:"measure"`
	Unit     string  `json:"unit"`
	Value    figure  `json:"value"`
	Raw      string  `json:"raw,omitempty"`
	RawValue *figure `json:"rawValue,omitempty"`
	// Ratio is Value.Median / RawValue.Median.
	Ratio float64 `json:"ratio,omitempty"`
	Note  string  `json:"note,omitempty"`
}

// target is one of the aims BENCHMARKS.md checks the figures against.
type target struct {
	Aim      string `json:"aim"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
}

// benchReport is everything one `make bench` run measured; it is written as
// BENCHMARKS.md and as JSON.
type benchReport struct {
	Started  time.Time         `json:"started"`
	Seconds  float64           `json:"seconds"`
	Machine  [][2]string       `json:"machine"`
	Scale    map[string]int64  `json:"scale"`
	Settings map[string]string `json:"settings"`
	Rows     []row             `json:"rows"`
	Targets  []target          `json:"targets"`
	Profiles []string          `json:"profiles,omitempty"`

	mu sync.Mutex
}

func (r *benchReport) add(x row) {
	if x.RawValue != nil && x.RawValue.Median != 0 {
		x.Ratio = x.Value.Median / x.RawValue.Median
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.Rows = append(r.Rows, x)
}

func (r *benchReport) find(section, measure string) row {
	for _, x := range r.Rows {
		if x.Section == section && x.Measure == measure {
			return x
		}
	}
	return row{}
}

// machine describes the machine and the versions of everything measured.
// cpuSteal returns the machine's steal time and its total CPU time so far,
// in clock ticks, from /proc/stat: on a virtual machine, the share of time
// the hypervisor gave to others says how noisy the neighbours were.
func cpuSteal() (steal, total uint64) {
	t := readCPUTicks()
	return t.steal, t.total
}

// cpuTicks is the machine's CPU time so far, in clock ticks, from the first
// line of /proc/stat.
type cpuTicks struct {
	idle  uint64 // idle and iowait
	steal uint64
	total uint64 // user nice system idle iowait irq softirq steal; guest time is inside user
}

func readCPUTicks() cpuTicks {
	var t cpuTicks
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return t
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		switch {
		case i >= 8:
			continue
		case i == 3 || i == 4:
			t.idle += n
		case i == 7:
			t.steal = n
		}
		t.total += n
	}
	return t
}

// busySince is the share of the machine's CPU time since t that was
// neither idle nor taken by the hypervisor, and the busy seconds it was
// (across all cores).
func busySince(t cpuTicks) (share, seconds float64) {
	now := readCPUTicks()
	total := now.total - t.total
	if total == 0 {
		return 0, 0
	}
	busy := total - (now.idle - t.idle) - (now.steal - t.steal)
	return float64(busy) / float64(total), float64(busy) / 100 // USER_HZ is 100 on Linux
}

func machine(ctx context.Context, pg *pgx.Conn, rdb *redis.Client, kafkaLibs string) [][2]string {
	first := func(path, prefix string) string {
		f, err := os.Open(path)
		if err != nil {
			return "?"
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				return strings.Trim(strings.TrimSpace(strings.TrimPrefix(sc.Text(), prefix)), `:"= `)
			}
		}
		return "?"
	}
	cmd := func(name string, args ...string) string {
		out, err := exec.Command(name, args...).CombinedOutput()
		if err != nil && len(out) == 0 {
			return "not installed"
		}
		return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	var pgVersion string
	_ = pg.QueryRow(ctx, "show server_version").Scan(&pgVersion)
	redisVersion := "?"
	if info, err := rdb.Info(ctx, "server").Result(); err == nil {
		for _, l := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(l, "redis_version:"); ok {
				redisVersion = v
			}
		}
	}
	kafka := "?"
	if m, _ := filepath.Glob(filepath.Join(kafkaLibs, "kafka-clients-*.jar")); len(m) > 0 {
		kafka = strings.TrimSuffix(strings.TrimPrefix(filepath.Base(m[0]), "kafka-clients-"), ".jar")
	}
	mem := first("/proc/meminfo", "MemTotal")
	if kb, err := strconv.ParseFloat(strings.Fields(mem + " 0")[0], 64); err == nil {
		mem = fmt.Sprintf("%.1f GiB", kb/1024/1024)
	}
	return [][2]string{
		{"CPU", first("/proc/cpuinfo", "model name")},
		{"Cores", strconv.Itoa(runtime.NumCPU())},
		{"Memory", mem},
		{"OS", first("/etc/os-release", "PRETTY_NAME") + ", Linux " + cmd("uname", "-r")},
		{"Go", runtime.Version()},
		{"Kafka", kafka + " (KRaft, one broker+controller)"},
		{"Java", cmd("java", "-version")},
		{"PostgreSQL", pgVersion},
		{"Redis", redisVersion},
		{"nginx", strings.TrimPrefix(cmd("nginx", "-v"), "nginx version: ")},
		{"wrk", strings.Fields(cmd("wrk", "-v") + " ?")[1]},
	}
}

func (r *benchReport) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// num formats a figure value for the table: thousands separated, and
// decimals only where the value is small.
func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v < 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case v < 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	s := strconv.FormatInt(int64(v+0.5), 10)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func (f figure) String() string {
	if len(f.Runs) <= 1 {
		return num(f.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", num(f.Median), num(f.Min), num(f.Max))
}

// writeMarkdown writes BENCHMARKS.md.
func (r *benchReport) writeMarkdown(path, jsonName string) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("# Benchmarks\n\n")
	p("Written by `make bench` (or `make bench-quick`) on %s, in %.0f minutes. Every figure is the median\n", r.Started.UTC().Format("2006-01-02 15:04 MST"), r.Seconds/60)
	p("of the runs listed in its row, with min–max beside it; each catalog figure stands next to the raw limit\n")
	p("of the part underneath, measured in the same run on the same machine. The raw numbers are in\n")
	p("[`%s`](%s). How each figure is taken: [docs/benchmarks.md](docs/benchmarks.md).\n\n", jsonName, jsonName)
	p("## Machine\n\n| | |\n|---|---|\n")
	for _, m := range r.Machine {
		p("| %s | %s |\n", m[0], m[1])
	}
	p("\n## Scale\n\n| | |\n|---|---|\n")
	for _, k := range [][2]string{{"tracks", "Tracks"}, {"releases", "Releases"}, {"deliveries", "Deliveries (first and later)"},
		{"events", "Events in the releases topic after ingest"}, {"eventBytes", "Event payload bytes"}, {"ernBytes", "ERN 4.3 bytes on disk"}} {
		if v, ok := r.Scale[k[0]]; ok {
			p("| %s | %s |\n", k[1], num(float64(v)))
		}
	}
	keys := make([]string, 0, len(r.Settings))
	for k := range r.Settings {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		p("| %s | %s |\n", k, r.Settings[k])
	}
	p("\n## Targets\n\n| Aim | Measured | Met |\n|---|---|---|\n")
	for _, t := range r.Targets {
		met := "no"
		if t.Met {
			met = "yes"
		}
		p("| %s | %s | %s |\n", t.Aim, t.Measured, met)
	}
	var sections []string
	for _, x := range r.Rows {
		if !slices.Contains(sections, x.Section) {
			sections = append(sections, x.Section)
		}
	}
	// The footprint comes last, whenever its first row was measured.
	slices.SortStableFunc(sections, func(a, b string) int {
		return map[bool]int{true: 1, false: 0}[a == "Footprint"] - map[bool]int{true: 1, false: 0}[b == "Footprint"]
	})
	for _, sec := range sections {
		p("\n## %s\n\n| Measure | catalog | Raw limit | Raw | catalog / raw |\n|---|---|---|---|---|\n", sec)
		for _, x := range r.Rows {
			if x.Section != sec {
				continue
			}
			raw, rawV, ratio := "", "", ""
			if x.RawValue != nil {
				raw, rawV = x.Raw, x.RawValue.String()+" "+x.Unit
				ratio = fmt.Sprintf("%.0f%%", 100*x.Ratio)
				if x.Ratio >= 10 {
					ratio = fmt.Sprintf("%.1fx", x.Ratio)
				}
			}
			measure := x.Measure
			if x.Note != "" {
				measure += " <br><sub>" + x.Note + "</sub>"
			}
			p("| %s | %s %s | %s | %s | %s |\n", measure, x.Value, x.Unit, raw, rawV, ratio)
		}
	}
	if len(r.Profiles) > 0 {
		p("\n## Profiles\n\nCPU profiles taken from the running roles during the run (`go tool pprof -top FILE`), kept under `.data/bench/profiles/`:\n\n")
		for _, f := range r.Profiles {
			p("- `%s`\n", f)
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// TestReportFormatting checks the medians and number formats BENCHMARKS.md
// is written with.
func TestReportFormatting(t *testing.T) {
	f := fig(3, 1, 2)
	if f.Median != 2 || f.Min != 1 || f.Max != 3 || f.String() != "2.00 (1.00–3.00)" {
		t.Fatalf("fig: %+v %s", f, f)
	}
	if got := num(1234567.4); got != "1,234,567" {
		t.Fatal(got)
	}
	if got := fig(4, 1, 3, 2).Median; got != 2.5 {
		t.Fatal(got)
	}
}

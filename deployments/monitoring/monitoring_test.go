package monitoring_test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// promtool is the checker make test installs into bin/ (make tools).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("../../bin/promtool")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("promtool is not installed (make tools installs it into bin/): %v", err)
	}
	return p
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
}

// The alert rules are valid, and each fires on the series that should fire
// it and on no other (alerts_test.yml, promtool's rule unit tests).
func TestAlertRules(t *testing.T) {
	p := promtool(t)
	run(t, p, "check", "rules", "alerts.yml")
	run(t, p, "test", "rules", "alerts_test.yml")
}

// Every panel's query is valid PromQL: promtool checks them as recording
// rules.
func TestDashboardQueries(t *testing.T) {
	var d struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	b, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, q := range p.Targets {
			n++
			e, _ := json.Marshal(q.Expr)
			fmt.Fprintf(&rules, "      - record: dashboard:panel_%d\n        expr: %s\n", n, e)
		}
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(f, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, promtool(t), "check", "rules", f)
}

// Every catalog_* metric the rules and the dashboard name is one catalog's
// code defines (a renamed metric would leave an alert that never fires).
func TestMonitoringNamesExportedMetrics(t *testing.T) {
	defined := map[string]bool{}
	name := regexp.MustCompile(`"(catalog_[a-z_]+)"`)
	err := filepath.WalkDir("../..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".data" || e.Name() == "bin" || e.Name() == ".git") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range name.FindAllStringSubmatch(string(b), -1) {
			defined[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\bcatalog_[a-z_]+`)
	for _, f := range []string{"alerts.yml", "grafana-dashboard.json"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range used.FindAllString(string(b), -1) {
			if strings.HasSuffix(m, "_") {
				continue // a prefix in a comment, such as catalog_outbox_*
			}
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
			if !defined[base] {
				t.Errorf("%s names %s, which no catalog code defines", f, m)
			}
		}
	}
}

package main_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// `catalog --help` lists every setting with its default, also when a
// setting is wrong, and names the wrong one; other commands stop on it.
func TestHelpListsSettingsDespiteABadOne(t *testing.T) {
	cmd := exec.Command(catalogBin, "--help")
	cmd.Env = append(os.Environ(), "CATALOG_TOPIC_PARTITIONS=many")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("--help with a bad setting: %v\n%s", err, out)
	}
	// The settings list, read as text: each entry's name and default.
	src, err := os.ReadFile("settings.go")
	if err != nil {
		t.Fatal(err)
	}
	entries := regexp.MustCompile(`\{"(CATALOG_[A-Z0-9_]+)", "([^"]*)",`).FindAllStringSubmatch(string(src), -1)
	if len(entries) < 40 {
		t.Fatalf("found %d settings in settings.go", len(entries))
	}
	for _, e := range entries {
		def := e[2]
		if def == "" {
			def = "unset"
		}
		if !strings.Contains(string(out), e[1]+" (default "+def+")") {
			t.Errorf("--help lacks %s with its default %s", e[1], def)
		}
	}
	if !strings.Contains(string(out), `CATALOG_TOPIC_PARTITIONS="many": want an integer`) {
		t.Errorf("--help does not name the bad setting:\n%s", out)
	}
	cmd = exec.Command(catalogBin, "projections", "list")
	cmd.Env = append(os.Environ(), "CATALOG_TOPIC_PARTITIONS=many")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "CATALOG_TOPIC_PARTITIONS") {
		t.Errorf("a command with a bad setting: err %v, output %s", err, out)
	}
}

// `catalog version` names the commit the binary was built from, as git
// knows it (make build stamps it; the test builds the same way).
func TestVersionNamesTheCommit(t *testing.T) {
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	bin := t.TempDir() + "/catalog"
	if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "commit " + strings.TrimSpace(string(head))[:12]; !strings.Contains(string(out), want) || !strings.Contains(string(out), "go1.") {
		t.Errorf("catalog version printed %q, want %q and the Go version", out, want)
	}
}

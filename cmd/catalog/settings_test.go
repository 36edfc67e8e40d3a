package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every setting loadConfig reads is in the settings list (loadConfig
// panics otherwise), and every one is documented in docs/operations.md.
func TestSettingsListedAndDocumented(t *testing.T) {
	if _, err := loadConfig(envOf(nil)); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, s := range settings {
		if seen[s.Name] {
			t.Errorf("%s is listed twice", s.Name)
		}
		seen[s.Name] = true
		if !strings.Contains(string(doc), "`"+s.Name+"`") {
			t.Errorf("docs/operations.md does not document %s", s.Name)
		}
		if s.Meaning == "" {
			t.Errorf("%s has no meaning", s.Name)
		}
	}
	// The names the command's own code mentions are the listed ones: a
	// setting read elsewhere would be missing from --help.
	files, _ := os.ReadDir(".")
	name := regexp.MustCompile(`"(CATALOG_[A-Z0-9_]+)"`)
	for _, f := range files {
		if !strings.HasSuffix(f.Name(), ".go") || strings.HasSuffix(f.Name(), "_test.go") {
			continue
		}
		src, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range name.FindAllStringSubmatch(string(src), -1) {
			if !seen[m[1]] {
				t.Errorf("%s reads %s, which the settings list lacks", f.Name(), m[1])
			}
		}
	}
}

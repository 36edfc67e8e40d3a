package ern_test

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest/ern"
)

// maxFuzzingSeed bounds the samples used as seeds while fuzzing. The engine
// minimises every new interesting input, and its minimiser is quadratic in
// the input's length: with mutants of the 75–330 KB samples both workers
// spend a 30 s -fuzztime minimising (about 7,000 executions instead of
// 100,000 and more). The plain test run seeds every sample.
const maxFuzzingSeed = 16 << 10

// FuzzParse checks that Parse never panics, that a failure is always a
// *release.ValidationError naming at least one problem, and that a success
// sets exactly one of Release and Purge. Seeds: the DDEX samples when
// present (only the small ones while fuzzing), the inline documents of the
// tests, and testdata/fuzz/FuzzParse.
func FuzzParse(f *testing.F) {
	fuzzing := flag.Lookup("test.fuzz").Value.String() != ""
	if files, err := filepath.Glob(filepath.Join(samplesDir, "*.xml")); err == nil {
		for _, name := range files {
			data, err := os.ReadFile(name)
			if err == nil && (!fuzzing || len(data) <= maxFuzzingSeed) {
				f.Add(data)
			}
		}
	}
	for _, doc := range []string{minimal382, minimal43, minimalPurge, minimal382[:300], "", "<a/>"} {
		f.Add([]byte(doc))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ern.Parse(data)
		if err != nil {
			v, ok := err.(*release.ValidationError)
			if !ok {
				t.Fatalf("error %T %v, want *release.ValidationError", err, err)
			}
			if len(v.Problems) == 0 {
				t.Fatal("ValidationError without problems")
			}
			for _, pr := range v.Problems {
				if pr.Field == "" || pr.Reason == "" {
					t.Fatalf("problem with an empty field or reason: %+v", pr)
				}
			}
			return
		}
		if (p.Release == nil) == (p.Purge == nil) {
			t.Fatalf("Release = %v, Purge = %v; want exactly one", p.Release, p.Purge)
		}
		if p.Version == "" {
			t.Fatal("no version on success")
		}
	})
}

// TestSeedCorpus checks that the committed seeds are what their names say:
// the minimal and purge documents parse, the broken ones fail.
func TestSeedCorpus(t *testing.T) {
	for name, valid := range map[string]bool{
		"minimal_ern382": true, "minimal_ern43": true, "purge_ern382": true,
		"truncated": false, "unknown_namespace": false, "deep_nesting": false,
	} {
		raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzParse", name))
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		data, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s is not a one-value []byte corpus file (%v)", name, err)
		}
		if _, err := ern.Parse([]byte(data)); (err == nil) != valid {
			t.Errorf("%s: Parse error = %v, want valid = %v", name, err, valid)
		}
	}
}

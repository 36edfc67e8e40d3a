package gen_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
)

func TestGeneratedReleasesAreValidAndDeterministic(t *testing.T) {
	t.Parallel()
	rs := gen.Releases(7, 300)
	upcs := map[string]bool{}
	isrcs := map[string]bool{}
	for i, j := range rs {
		if _, err := release.New(j.Draft()); err != nil {
			t.Fatalf("release %d does not validate: %v", i, err)
		}
		if upcs[j.UPC] {
			t.Fatalf("release %d repeats UPC %s", i, j.UPC)
		}
		upcs[j.UPC] = true
		for _, tr := range j.Tracks {
			if isrcs[tr.ISRC] {
				t.Fatalf("release %d repeats ISRC %s", i, tr.ISRC)
			}
			isrcs[tr.ISRC] = true
		}
	}
	if !reflect.DeepEqual(rs[:10], gen.Releases(7, 10)) {
		t.Fatal("the same seed gave different releases")
	}
	if reflect.DeepEqual(rs[0], gen.Releases(8, 1)[0]) {
		t.Fatal("different seeds gave the same release")
	}
}

// TestCatalogueParses: every generated delivery, written as DDEX ERN 4.3,
// passes catalog's own parser and validation, and says what the JSON form
// says.
func TestCatalogueParses(t *testing.T) {
	t.Parallel()
	ds := gen.Catalogue(42, 400)
	kinds := map[string]int{}
	for _, d := range ds {
		kinds[strings.SplitN(d.Name, "-", 3)[1]]++
		var buf bytes.Buffer
		if err := gen.ERN43(&buf, d); err != nil {
			t.Fatal(err)
		}
		parsed, err := ingest.Parse(ingest.FormatERN, buf.Bytes())
		if err != nil {
			t.Fatalf("%s does not parse: %v\n%s", d.Name, err, buf.String())
		}
		if d.Purge() {
			if parsed.Purge == nil || parsed.Purge.UPC != d.Release.Purge.UPC {
				t.Fatalf("%s: purge parsed as %+v", d.Name, parsed)
			}
			if _, err := release.NewPurge(*parsed.Purge); err != nil {
				t.Fatalf("%s: %v", d.Name, err)
			}
			continue
		}
		fromXML, err := release.New(*parsed.Release)
		if err != nil {
			t.Fatalf("%s does not validate: %v", d.Name, err)
		}
		jd, err := ingest.ParseJSON(mustJSON(t, d.Release))
		if err != nil {
			t.Fatal(err)
		}
		fromJSON, err := release.New(*jd.Release)
		if err != nil {
			t.Fatalf("%s (JSON) does not validate: %v", d.Name, err)
		}
		if !reflect.DeepEqual(fromXML.Tracks(), fromJSON.Tracks()) || !reflect.DeepEqual(fromXML.Deals(), fromJSON.Deals()) ||
			fromXML.Metadata().Title != fromJSON.Metadata().Title || fromXML.Metadata().Label != fromJSON.Metadata().Label ||
			fromXML.UPC() != fromJSON.UPC() {
			t.Fatalf("%s: the ERN and JSON forms differ", d.Name)
		}
	}
	if kinds["new"] != 400 || kinds["update"] == 0 || kinds["deals"] == 0 || kinds["takedown"] == 0 || kinds["purge"] == 0 {
		t.Errorf("deliveries by kind: %v", kinds)
	}
}

// TestCatalogueIdentity: every generated track has its own ISRC (catalog
// gives one track id per ISRC, so a million generated tracks are a million
// catalogue tracks), and every later delivery of a release changes what it
// says it changes.
func TestCatalogueIdentity(t *testing.T) {
	t.Parallel()
	ds := gen.Catalogue(3, 6000)
	seen := map[string]string{}
	first := map[string]ingest.JSONRelease{}
	for _, d := range ds {
		if strings.HasPrefix(d.Name, "1-new-") {
			first[d.Release.UPC] = d.Release
			for _, tr := range d.Release.Tracks {
				if other, ok := seen[tr.ISRC]; ok {
					t.Fatalf("ISRC %s is on %s and %s", tr.ISRC, other, d.Name)
				}
				seen[tr.ISRC] = d.Name
			}
			continue
		}
		if d.Purge() {
			continue
		}
		was := first[d.Release.UPC]
		if reflect.DeepEqual(was.Deals, d.Release.Deals) && was.Title == d.Release.Title {
			t.Fatalf("%s changes nothing", d.Name)
		}
	}
}

func mustJSON(t *testing.T, j ingest.JSONRelease) []byte {
	t.Helper()
	b, err := ingest.EncodeJSON(j)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

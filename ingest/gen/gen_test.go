package gen_test

import (
	"bytes"
	"reflect"
	"strconv"
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
	ds := gen.Catalogue(42, 400, gen.DefaultReuse)
	kinds := map[string]int{}
	compilations, reissues := 0, 0
	for _, d := range ds {
		kinds[strings.SplitN(d.Name, "-", 3)[1]]++
		if d.Release.Artist == "Various Artists" {
			compilations++
		}
		if d.Release.Version == "Remastered" {
			reissues++
		}
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
			fromXML.Metadata().Version != fromJSON.Metadata().Version || fromXML.Metadata().Artist != fromJSON.Metadata().Artist ||
			fromXML.Metadata().OriginalReleaseDate != fromJSON.Metadata().OriginalReleaseDate || fromXML.UPC() != fromJSON.UPC() {
			t.Fatalf("%s: the ERN and JSON forms differ", d.Name)
		}
	}
	if kinds["new"] != 400 || kinds["update"] == 0 || kinds["deals"] == 0 || kinds["takedown"] == 0 || kinds["purge"] == 0 {
		t.Errorf("deliveries by kind: %v", kinds)
	}
	if compilations == 0 || reissues == 0 {
		t.Errorf("%d compilations and %d reissues among 400 releases; want some of each", compilations, reissues)
	}
}

// TestCatalogueIdentity: the releases with recordings of their own have
// ISRCs no other of them has; a share of the releases (DefaultReuse, within
// the 5-10% of real catalogues) carry recordings of earlier releases under
// the same ISRCs, never one twice; and every later delivery of a release
// changes what it says it changes.
func TestCatalogueIdentity(t *testing.T) {
	t.Parallel()
	const n = 6000
	ds := gen.Catalogue(3, n, gen.DefaultReuse)
	onRelease := map[string][]int{} // ISRC -> the releases (by number) that carry it
	first := map[string]ingest.JSONRelease{}
	shared := 0
	for _, d := range ds {
		if strings.HasPrefix(d.Name, "1-new-") {
			i, err := strconv.Atoi(strings.TrimPrefix(d.Name, "1-new-"))
			if err != nil {
				t.Fatal(err)
			}
			first[d.Release.UPC] = d.Release
			reuses := false
			here := map[string]bool{}
			for _, tr := range d.Release.Tracks {
				if here[tr.ISRC] {
					t.Fatalf("%s carries ISRC %s twice", d.Name, tr.ISRC)
				}
				here[tr.ISRC] = true
				if len(onRelease[tr.ISRC]) > 0 {
					reuses = true
				}
				onRelease[tr.ISRC] = append(onRelease[tr.ISRC], i)
			}
			if reuses {
				shared++
				if d.Release.Artist != "Various Artists" && d.Release.Version != "Remastered" {
					t.Errorf("%s reuses ISRCs but is neither a compilation nor a reissue", d.Name)
				}
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
	if share := float64(shared) / n; share < 0.05 || share > 0.10 {
		t.Errorf("%d of %d releases (%.1f%%) reuse ISRCs of earlier releases, want 5-10%%", shared, n, 100*share)
	}
	onTwo := 0
	for _, rs := range onRelease {
		if len(rs) >= 2 {
			onTwo++
		}
	}
	if onTwo < shared {
		t.Errorf("%d ISRCs are on two releases or more, fewer than the %d releases that reuse them", onTwo, shared)
	}
	t.Logf("%d of %d releases reuse recordings; %d ISRCs are on two releases or more", shared, n, onTwo)

	// The same seed and share give the same catalogue; a larger one keeps
	// the first releases as they were; no share, no reuse.
	if again := gen.Catalogue(3, n, gen.DefaultReuse); !reflect.DeepEqual(again, ds) {
		t.Error("the same seed and share gave different catalogues")
	}
	bigger := gen.Catalogue(3, n+500, gen.DefaultReuse)
	for i := 0; i < n; i++ {
		if !reflect.DeepEqual(bigger[i], ds[i]) {
			t.Fatalf("release %d changed when the catalogue grew", i)
		}
	}
	seen := map[string]bool{}
	for _, d := range gen.Catalogue(3, 2000, 0) {
		if strings.HasPrefix(d.Name, "1-new-") {
			for _, tr := range d.Release.Tracks {
				if seen[tr.ISRC] {
					t.Fatalf("with no reuse, ISRC %s is on two releases", tr.ISRC)
				}
				seen[tr.ISRC] = true
			}
		}
	}
	var more int
	for _, d := range gen.Catalogue(3, 2000, 0.5) {
		if d.Release.Artist == "Various Artists" || d.Release.Version == "Remastered" {
			more++
		}
	}
	if more < 800 || more > 1200 {
		t.Errorf("a share of 0.5 gave %d of 2000 compilations and reissues", more)
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

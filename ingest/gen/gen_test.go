package gen_test

import (
	"reflect"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
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

package verify

import (
	"fmt"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
)

// TestIdentifiersExpected: the oracle's answers to the identifiers
// look-ups. A compilation lists a shared ISRC beside its album; a barcode
// is found by its GTIN-14 spelling; a purged release answers nothing but
// its keys are still asked for (and must find nothing); owners follow the
// rule for old logs: a delivery without owners keeps the ones named
// before (none at first), owners-changed replaces them.
func TestIdentifiersExpected(t *testing.T) {
	o := NewOracle()
	album := meta("724349501058", "Album")
	album.GRid = "A10302B0001234567K"
	o.Apply("A", 1, release.Delivered{ReleaseID: 1, Metadata: album, Owners: []string{"PADPIDA0000000001", ""},
		Tracks: []release.TrackInfo{track(11, "GBAAA0000001", "a", 1), track(12, "GBAAA0000002", "b", 2)}})
	// An old log's redelivery names no owners: they stay.
	o.Apply("A", 2, release.Delivered{ReleaseID: 1, Metadata: album,
		Tracks: []release.TrackInfo{track(11, "GBAAA0000001", "a", 1), track(12, "GBAAA0000002", "b", 2)}})
	// A compilation from an old log: listed under no party, until a
	// transfer names its owners.
	o.Apply("C", 1, release.Delivered{ReleaseID: 2, Metadata: meta("5012345678900", "Comp"),
		Tracks: []release.TrackInfo{track(21, "GBAAA0000002", "b", 1)}})
	o.Apply("P", 1, release.Delivered{ReleaseID: 3, Metadata: meta("0042282289827", "Gone"), Owners: []string{"PADPIDA0000000001"},
		Tracks: []release.TrackInfo{track(31, "GBAAA0000003", "c", 1)}})
	o.Apply("P", 2, release.Purged{ReleaseID: 3})
	o.Apply("T", 1, release.Delivered{ReleaseID: 4, Metadata: meta("0042282289834", "Moved"),
		Tracks: []release.TrackInfo{track(41, "GBAAA0000004", "d", 1)}})
	o.Apply("T", 2, release.OwnersChanged{ReleaseID: 4, Owners: []string{"PADPIDA0000000002"}})

	x := Expect(o).identifiers()
	got := func(v any) string { return fmt.Sprint(v) }
	for _, c := range []struct{ what, got, want string }{
		{"isrc GBAAA0000001", got(x.isrcs["GBAAA0000001"]), "[{11 1}]"},
		{"isrc GBAAA0000002", got(x.isrcs["GBAAA0000002"]), "[{12 1} {21 2}]"},
		{"isrc of the purged release", got(x.isrcs["GBAAA0000003"]), "[]"},
		{"UPC-A as GTIN-14", got(x.gtins["00724349501058"].releaseID()), "1"},
		{"EAN-13 as GTIN-14", got(x.gtins["05012345678900"].releaseID()), "2"},
		{"the purged release's barcode", got(x.gtins["00042282289827"] == nil), "true"},
		{"GRid", got(x.grids["A10302B0001234567K"].releaseID()), "1"},
		{"party 1 (kept through the redelivery; not its purged release)", got(x.parties["PADPIDA0000000001"]), "[1]"},
		{"party 2 (a transfer)", got(x.parties["PADPIDA0000000002"]), "[4]"},
		{"parties", got(len(x.parties)), "2"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	if _, asked := x.gtins["00042282289827"]; !asked {
		t.Error("the purged release's barcode is not asked for")
	}
}

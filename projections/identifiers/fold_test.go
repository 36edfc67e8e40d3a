package identifiers_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers"
)

func change(seq int64, ev release.Payload) projections.Change {
	return projections.Change{Sequence: seq, Event: ev}
}

// TestFold folds a release's life: delivered with owners, metadata and
// tracks changed, a deal change (only the version moves), a transfer, a purge,
// a redelivery written before owners were in the log, and duplicates.
func TestFold(t *testing.T) {
	t.Parallel()
	rows := map[int64]*identifiers.Release{}
	tr := release.TrackInfo{TrackID: 11, ISRC: "USCA29600191", Title: "T", Artist: "A", DurationSeconds: 192, Disc: 1, Number: 1}
	if identifiers.Fold(rows, change(1, release.MetadataChanged{ReleaseID: 1})) {
		t.Fatal("an event before the first delivery was applied")
	}
	if !identifiers.Fold(rows, change(1, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", Title: "R", Label: "L"},
		Tracks: []release.TrackInfo{tr}, Owners: []string{"PADPIDA0000000001", "PADPIDA0000000002"}})) {
		t.Fatal("delivered not applied")
	}
	r := rows[1]
	if !r.Exists || !r.Dirty || r.UPC != "724349501058" || len(r.Tracks) != 1 || r.Tracks[0].ISRC != tr.ISRC ||
		!slices.Equal(r.Parties(), []string{"PADPIDA0000000001", "PADPIDA0000000002"}) {
		t.Fatalf("after delivered: %+v", r)
	}
	if identifiers.Fold(rows, change(1, release.Delivered{ReleaseID: 1})) {
		t.Error("a redelivered event was applied")
	}
	// A deal change changes no identifier; the row's version follows it.
	r.Dirty = false
	if !identifiers.Fold(rows, change(2, release.DealsReplaced{ReleaseID: 1})) || !r.Dirty || r.Version != 2 || r.Title != "R" {
		t.Errorf("deals: dirty %v version %d", r.Dirty, r.Version)
	}
	identifiers.Fold(rows, change(3, release.MetadataChanged{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", GRid: "A1", Title: "R2"}}))
	identifiers.Fold(rows, change(4, release.OwnersChanged{ReleaseID: 1, Owners: []string{"PADPIDA0000000003"}}))
	if !r.Dirty || r.Title != "R2" || r.GRid != "A1" || !slices.Equal(r.Parties(), []string{"PADPIDA0000000003"}) || r.Version != 4 {
		t.Fatalf("after metadata and transfer: %+v", r)
	}
	identifiers.Fold(rows, change(5, release.Purged{ReleaseID: 1}))
	if !r.Purged || r.Tracks != nil {
		t.Fatalf("after purge: %+v", r)
	}
	// A redelivery whose event names no owners (written before delivered
	// v3) keeps the owners the log named.
	identifiers.Fold(rows, change(6, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", Title: "R3"}, Tracks: []release.TrackInfo{tr}}))
	if r.Purged || r.Title != "R3" || !slices.Equal(r.Parties(), []string{"PADPIDA0000000003"}) {
		t.Fatalf("after redelivery: %+v", r)
	}
}

func TestValidateAndGTIN(t *testing.T) {
	t.Parallel()
	if why := identifiers.Validate(release.Delivered{ReleaseID: 1, Tracks: []release.TrackInfo{{TrackID: 1, ISRC: "X"}, {TrackID: 1, ISRC: "Y"}}}); why == "" {
		t.Error("a track id twice on a release is valid")
	}
	if why := identifiers.Validate(release.OwnersChanged{ReleaseID: 0}); why == "" {
		t.Error("an event without a release id is valid")
	}
	if why := identifiers.Validate(release.OwnersChanged{ReleaseID: 2}); why != "" {
		t.Error(why)
	}
	for _, f := range []string{"724349501058", "0724349501058", "00724349501058"} {
		if g := identifiers.GTIN(f); g != "00724349501058" {
			t.Errorf("GTIN(%s) = %s", f, g)
		}
	}
	if (&identifiers.Release{Owners: []string{"", "P1", "P1"}}).Parties()[0] != "P1" {
		t.Error("parties keep the anonymous sender")
	}
}

// TestPrepareDropsDeals: a prepared change keeps no deal set, and folds
// as the change decoded.
func TestPrepareDropsDeals(t *testing.T) {
	t.Parallel()
	tr := release.TrackInfo{TrackID: 11, ISRC: "USCA29600191", Title: "T", Artist: "A", DurationSeconds: 192, Disc: 1, Number: 1}
	deals := []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"OnDemandStream"}}}
	decoded, prepared := map[int64]*identifiers.Release{}, map[int64]*identifiers.Release{}
	for _, c := range []projections.Change{
		change(1, release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "724349501058", Title: "R"}, Tracks: []release.TrackInfo{tr}, Deals: deals}),
		change(2, release.DealsReplaced{ReleaseID: 1, Deals: deals}),
		change(3, release.TakenDown{ReleaseID: 1, Deals: deals}),
	} {
		p := identifiers.Prepare(c)
		if _, d, has := release.TakeDeals(p.Event.(release.Payload)); !has || d != nil {
			t.Fatalf("prepared %+v keeps its deals", p.Event)
		}
		if identifiers.Fold(decoded, c) != identifiers.Fold(prepared, p) || !reflect.DeepEqual(decoded, prepared) {
			t.Fatalf("after %s: %+v, prepared %+v", c.Event.EventType(), decoded[1], prepared[1])
		}
	}
}

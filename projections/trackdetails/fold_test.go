package trackdetails_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

func delivered(id int64, title string, tracks ...release.TrackInfo) release.Delivered {
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	return release.Delivered{ReleaseID: id, Metadata: release.Metadata{UPC: "5012345678900", Title: title, Artist: "A"}, ArtistID: 1,
		Tracks: tracks, Deals: []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"},
			CommercialModels: []string{"PayAsYouGoModel"}, Start: &start}}}
}

func track(id int64, isrc string) release.TrackInfo {
	return release.TrackInfo{TrackID: id, ISRC: isrc, Title: isrc, Artist: "A", ArtistID: 1, DurationSeconds: 100, Disc: 1, Number: int(id)}
}

func change(seq int64, ev events.Payload) projections.Change {
	return projections.Change{Sequence: seq, Event: ev}
}

// TestFold folds a release's life in memory, without Postgres: a first
// delivery creates it, later events change it, a redelivery is stale, an
// event before the first delivery does nothing, a purge empties it.
func TestFold(t *testing.T) {
	t.Parallel()
	rows := map[int64]*trackdetails.Release{}
	if trackdetails.Fold(rows, change(1, release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{Title: "early"}})) {
		t.Error("an event before the first delivery was applied")
	}
	if !trackdetails.Fold(rows, change(2, delivered(5, "First", track(51, "GBAAA2000001"), track(52, "GBAAA2000002")))) {
		t.Fatal("delivery not applied")
	}
	r := rows[5]
	if !r.Exists || !r.Dirty || r.Version != 2 || r.Meta.Title != "First" || len(r.Tracks) != 2 || len(r.Terms) != 1 {
		t.Fatalf("after delivery: %+v", r)
	}
	if trackdetails.Fold(rows, change(2, release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{Title: "again"}})) || r.Meta.Title != "First" {
		t.Errorf("a redelivered sequence number was applied: %q", r.Meta.Title)
	}
	trackdetails.Fold(rows, change(3, release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{Title: "Second"}, ArtistID: 2}))
	trackdetails.Fold(rows, change(4, release.TracksChanged{ReleaseID: 5, Tracks: []release.TrackInfo{track(51, "GBAAA2000001")}}))
	trackdetails.Fold(rows, change(5, release.TakenDown{ReleaseID: 5, Deals: nil}))
	if r.Meta.Title != "Second" || r.ArtistID != 2 || len(r.Tracks) != 1 || len(r.Terms) != 0 || r.Version != 5 {
		t.Errorf("after changes: %+v", r)
	}
	trackdetails.Fold(rows, change(6, release.Purged{ReleaseID: 5}))
	if !r.Purged || r.Tracks != nil || !r.TracksSet || r.Terms != nil {
		t.Errorf("after purge: %+v", r)
	}
	trackdetails.Fold(rows, change(7, delivered(5, "Back", track(53, "GBAAA2000003"))))
	if r.Purged || r.Meta.Title != "Back" || len(r.Tracks) != 1 {
		t.Errorf("redelivered after purge: %+v", r)
	}
}

// TestValidate names what makes an event unusable.
func TestValidate(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		ev   events.Payload
		want string
	}{
		"fine":          {delivered(1, "T", track(1, "GBAAA2000001")), ""},
		"no release id": {release.Purged{}, "no releaseId"},
		"track without": {delivered(1, "T", track(0, "GBAAA2000001")), "no trackId or ISRC"},
		"same id twice": {release.TracksChanged{ReleaseID: 1, Tracks: []release.TrackInfo{track(1, "GBAAA2000001"), track(1, "GBAAA2000002")}}, "appears once"},
	} {
		got := trackdetails.Validate(tc.ev)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: Validate = %q, want %q", name, got, tc.want)
		}
	}
}

func TestCoversEveryTerritory(t *testing.T) {
	all := release.Territories()
	for _, step := range []int{1, 2, 3, 5, 7, 64} {
		var windows []release.Window
		want := map[string]bool{}
		for i, terr := range all {
			if i%step == 0 {
				windows = append(windows, release.Window{Territory: terr, Usage: release.UsageDownload})
				want[terr] = true
			}
		}
		terms := trackdetails.Compact(windows)
		for _, terr := range append(all, "XX", "") {
			if got := terms[0].Covers(terr); got != want[terr] {
				t.Fatalf("step %d: Covers(%q) = %v, want %v", step, terr, got, want[terr])
			}
		}
	}
}

// TestPrepareFoldsAsDecoded folds a release's life twice, once as decoded
// and once prepared (the deal sets folded into terms as each change is
// decoded, the events without them), and wants the same rows after every
// change: release deals, a track's own deals and takedown, a deal set
// replaced, a takedown, a purge and a redelivery.
func TestPrepareFoldsAsDecoded(t *testing.T) {
	t.Parallel()
	start, end := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	first := delivered(5, "First", track(51, "GBAAA2000001"), track(52, "GBAAA2000002"))
	first.Deals = append(first.Deals,
		release.Deal{Territories: []string{release.Worldwide}, ExcludedTerritories: []string{"US"}, UseTypes: []string{"OnDemandStream"},
			CommercialModels: []string{"SubscriptionModel"}, Start: &start, End: &end},
		release.Deal{Track: "GBAAA2000002", Territories: []string{"GB", "IE"}, UseTypes: []string{"PermanentDownload"},
			CommercialModels: []string{"PayAsYouGoModel"}, Start: &start, Price: &release.Price{Amount: "0.99", Currency: "GBP"}},
		release.Deal{Track: "GBAAA2000001", Territories: []string{"FR"}, TakeDown: true})
	replaced := first.Deals[1:3]
	log := []projections.Change{
		change(1, first),
		change(2, release.DealsReplaced{ReleaseID: 5, Deals: replaced}),
		change(3, release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{Title: "Second"}}),
		change(4, release.TakenDown{ReleaseID: 5, Territories: []string{"GB"}, Deals: first.Deals[2:3]}),
		change(4, release.DealsReplaced{ReleaseID: 5, Deals: first.Deals}), // a redelivery: stale
		change(5, release.TakenDown{ReleaseID: 5}),
		change(6, release.Purged{ReleaseID: 5}),
		change(7, delivered(5, "Back", track(53, "GBAAA2000003"))),
	}
	decoded, prepared := map[int64]*trackdetails.Release{}, map[int64]*trackdetails.Release{}
	for i, c := range log {
		p := trackdetails.Prepare(c)
		if _, _, has := release.TakeDeals(p.Event.(release.Payload)); has && p.Derived == nil {
			t.Fatalf("change %d: prepared without terms", i)
		}
		if _, deals, _ := release.TakeDeals(p.Event.(release.Payload)); deals != nil {
			t.Fatalf("change %d: the prepared event keeps its deal set", i)
		}
		a, b := trackdetails.Fold(decoded, c), trackdetails.Fold(prepared, p)
		if a != b || !reflect.DeepEqual(decoded, prepared) {
			t.Fatalf("after change %d: applied %v, prepared %v\n%+v\nprepared\n%+v", i, a, b, decoded[5], prepared[5])
		}
	}
	if len(decoded[5].Terms) == 0 || decoded[5].Meta.Title != "Back" {
		t.Errorf("the log did not fold as meant: %+v", decoded[5])
	}
	if c := change(3, release.MetadataChanged{ReleaseID: 5}); !reflect.DeepEqual(trackdetails.Prepare(c), c) {
		t.Error("a change without a deal set was changed")
	}
}

// TestTermsReuseScratch folds deal sets of different shapes one after the
// other (Terms reuses its window scratch) and wants each set's terms as a
// fresh TrackWindows gives them.
func TestTermsReuseScratch(t *testing.T) {
	t.Parallel()
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	every := []release.Deal{{Territories: []string{release.Worldwide}, UseTypes: []string{"OnDemandStream", "PermanentDownload"},
		CommercialModels: []string{"SubscriptionModel", "AdvertisementSupportedModel", "PayAsYouGoModel"}, Start: &start}}
	few := []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"}},
		{Track: "GBAAA2000001", Territories: []string{"FR", "DE"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"}}}
	for i, deals := range [][]release.Deal{every, few, every, nil, few} {
		terms, trackTerms := trackdetails.Terms(deals)
		want := trackdetails.Compact(release.TrackWindows(deals, ""))
		if !reflect.DeepEqual(terms, want) {
			t.Errorf("set %d: terms %+v, want %+v", i, terms, want)
		}
		if len(deals) == 2 && !reflect.DeepEqual(trackTerms["GBAAA2000001"], trackdetails.Compact(release.TrackWindows(deals, "GBAAA2000001"))) {
			t.Errorf("set %d: track terms %+v", i, trackTerms)
		}
	}
}

// TestTrackVersions follows each track's version through a release's
// life: a track keeps the version of the last event that changed its row
// (its columns or its own terms), whatever else the release's later events
// change, and a track new to the release takes the event's.
func TestTrackVersions(t *testing.T) {
	t.Parallel()
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	retitled := track(51, "GBAAA2000001")
	retitled.Title = "New title"
	own := release.Deal{Track: "GBAAA2000002", Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"},
		CommercialModels: []string{"PayAsYouGoModel"}, Start: &start}
	releaseDeals := delivered(5, "First").Deals
	steps := []struct {
		ev   events.Payload
		want []int64
	}{
		{delivered(5, "First", track(51, "GBAAA2000001"), track(52, "GBAAA2000002")), []int64{1, 1}},
		{release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{Title: "Second"}}, []int64{1, 1}},
		{release.TracksChanged{ReleaseID: 5, Tracks: []release.TrackInfo{retitled, track(52, "GBAAA2000002"), track(53, "GBAAA2000003")}}, []int64{3, 1, 3}},
		{release.DealsReplaced{ReleaseID: 5, Deals: releaseDeals}, []int64{3, 1, 3}},
		{release.DealsReplaced{ReleaseID: 5, Deals: append(slices.Clone(releaseDeals), own)}, []int64{3, 5, 3}},
		{release.DealsReplaced{ReleaseID: 5, Deals: append(slices.Clone(releaseDeals), own)}, []int64{3, 5, 3}},
		{release.TracksChanged{ReleaseID: 5, Tracks: []release.TrackInfo{track(52, "GBAAA2000002"), retitled}}, []int64{5, 3}},
		{release.TakenDown{ReleaseID: 5}, []int64{8, 3}},
		{release.Purged{ReleaseID: 5}, nil},
		{delivered(5, "Back", track(52, "GBAAA2000002")), []int64{10}},
	}
	rows := map[int64]*trackdetails.Release{}
	for i, s := range steps {
		trackdetails.Fold(rows, change(int64(i+1), s.ev))
		if got := rows[5].TrackVersions; !slices.Equal(got, s.want) {
			t.Errorf("after event %d (%T): track versions %v, want %v", i+1, s.ev, got, s.want)
		}
	}
}

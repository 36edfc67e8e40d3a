package release_test

import (
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

func msg(id string, day int) release.Message {
	return release.Message{Sender: "PADPIDA0000000001", ID: id, Created: time.Date(2024, 1, day, 12, 0, 0, 0, time.UTC)}
}

func exampleDraft() release.Draft {
	return release.Draft{
		Message: msg("m1", 1),
		UPC:     "00724349501058", Title: "Come Down", Artist: "The Band", Label: "Label", Type: "Album",
		Tracks: []release.DraftTrack{
			{ISRC: "USCA29600192", Title: "Two", Duration: "PT3M", Disc: 1, Number: 2},
			{ISRC: "USCA29600191", Title: "One", Duration: "PT4M12S", Disc: 1, Number: 1, Artist: "Guest"},
		},
		Deals: []release.DraftDeal{
			{Territories: []string{"GB", "US", "JP"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: "1997-07-03", PriceAmount: "0.99", PriceCurrency: "GBP"},
			{Territories: []string{"Worldwide"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"},
				Start: "2020-10-26T00:00:00"},
		},
	}
}

var exampleIDs = release.IDs{
	Artists: map[string]int64{"The Band": 7, "Guest": 8},
	Tracks:  map[release.ISRC]int64{release.MustParseISRC("USCA29600191"): 11, release.MustParseISRC("USCA29600192"): 12},
}

func mustNew(t *testing.T, d release.Draft) release.Release {
	t.Helper()
	r, err := release.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// decide is release.Decide by the sender, which must not fail.
func decide(t *testing.T, cur release.State, r release.Release, ids release.IDs) release.Decision {
	t.Helper()
	d, err := release.Decide(cur, r, ids, release.BySender)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// decidePurge is release.DecidePurge by the sender, which must not fail.
func decidePurge(t *testing.T, cur release.State, p release.Purge) release.Decision {
	t.Helper()
	d, err := release.DecidePurge(cur, p, release.BySender)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func types(d release.Decision) string {
	var out []string
	for _, e := range d.Events {
		out = append(out, e.Type)
	}
	return strings.Join(out, ",")
}

func TestNewListsEveryProblemAtItsSource(t *testing.T) {
	t.Parallel()
	d := exampleDraft()
	d.UPC = "123"
	d.Title = ""
	d.Tracks[0].ISRC = "nope"
	d.Tracks[1].Duration = "3:00"
	d.Tracks[1].Number = 2
	d.Deals[0].Territories = []string{"GB", "4"}
	d.Deals[1].Start = "yesterday"
	d.Deals = append(d.Deals, release.DraftDeal{UseTypes: []string{"Stream"}, Track: "GBAAA0000001"})
	d.Source = map[string]string{"upc": "/NewReleaseMessage/ReleaseList/Release[1]/ReleaseId/ICPN"}
	_, err := release.New(d)
	v, ok := release.IsValidationError(err)
	if !ok {
		t.Fatalf("New = %v, want a ValidationError", err)
	}
	want := []string{"/NewReleaseMessage/ReleaseList/Release[1]/ReleaseId/ICPN", "title", "tracks[0].isrc", "tracks[1].duration",
		"tracks[1].number", "deals[0].territories[1]", "deals[1].start", "deals[2].track", "deals[2].territories"}
	var got []string
	for _, p := range v.Problems {
		got = append(got, p.Field)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("fields = %v\nwant     %v", got, want)
	}
	if v.Message.Name() != "PADPIDA0000000001/m1" || !strings.Contains(err.Error(), "PADPIDA0000000001/m1") {
		t.Errorf("error does not name the message: %v", err)
	}
}

func TestDecideLifecycle(t *testing.T) {
	t.Parallel()
	first := decide(t, release.State{ReleaseID: 3}, mustNew(t, exampleDraft()), exampleIDs)
	if first.Outcome != release.Accepted || types(first) != release.TypeDelivered || first.Next.Version != 1 {
		t.Fatalf("first delivery: %s %s v%d", first.Outcome, types(first), first.Next.Version)
	}
	ev := first.Events[0].Payload.(release.Delivered)
	if ev.ReleaseID != 3 || ev.ArtistID != 7 || len(ev.Tracks) != 2 || ev.Tracks[0].TrackID != 11 || ev.Tracks[0].ArtistID != 8 ||
		ev.Tracks[0].DurationSeconds != 252 || ev.Tracks[1].Artist != "The Band" || len(ev.Deals) != 2 {
		t.Fatalf("event = %+v", ev)
	}

	again := mustNew(t, exampleDraft())
	if d := decide(t, first.Next, again, exampleIDs); d.Outcome != release.Unchanged || len(d.Events) != 0 {
		t.Fatalf("same content again: %s %s", d.Outcome, types(d))
	}

	// Title edited, a track removed, deals cut to fewer territories.
	upd := exampleDraft()
	upd.Message = msg("m2", 2)
	upd.Title = "Come Down (Remastered)"
	upd.Tracks = upd.Tracks[1:]
	upd.Deals[0].Territories = []string{"GB"}
	d := decide(t, first.Next, mustNew(t, upd), exampleIDs)
	want := release.TypeMetadataChanged + "," + release.TypeTracksChanged + "," + release.TypeDealsReplaced
	if d.Outcome != release.Accepted || types(d) != want || d.Next.Version != 4 {
		t.Fatalf("update: %s %s v%d", d.Outcome, types(d), d.Next.Version)
	}
	tc := d.Events[1].Payload.(release.TracksChanged)
	if len(tc.Removed) != 1 || tc.Removed[0] != "USCA29600192" || len(tc.Added) != 0 || len(tc.Tracks) != 1 {
		t.Errorf("tracks changed = %+v", tc)
	}

	// The first message arriving late changes nothing and says so.
	late := decide(t, d.Next, mustNew(t, exampleDraft()), exampleIDs)
	if late.Outcome != release.Stale || len(late.Events) != 0 || !strings.Contains(late.Reason, "older") {
		t.Fatalf("late message: %s %q", late.Outcome, late.Reason)
	}

	// ERN 3.8 takedown in JP: JP loses everything, GB keeps its download.
	td := upd
	td.Message = msg("m3", 3)
	td.Deals = append(td.Deals, release.DraftDeal{Territories: []string{"JP"}, TakeDown: true})
	tdd := decide(t, d.Next, mustNew(t, td), exampleIDs)
	if types(tdd) != release.TypeTakenDown {
		t.Fatalf("takedown: %s", types(tdd))
	}
	if got := tdd.Events[0].Payload.(release.TakenDown).Territories; len(got) != 1 || got[0] != "JP" {
		t.Errorf("taken down in %v", got)
	}
	windows := release.TrackWindows(tdd.Next.Deals, "USCA29600191")
	has := func(territory string, u release.Usage) bool {
		for _, w := range windows {
			if w.Territory == territory && w.Usage == u {
				return true
			}
		}
		return false
	}
	if has("JP", release.UsageSubscription) || !has("GB", release.UsageDownload) || !has("FR", release.UsageSubscription) || has("FR", release.UsageDownload) {
		t.Errorf("windows after JP takedown: JP sub %t, GB dl %t, FR sub %t, FR dl %t",
			has("JP", release.UsageSubscription), has("GB", release.UsageDownload), has("FR", release.UsageSubscription), has("FR", release.UsageDownload))
	}

	// ERN 4.x: a resend without deals withdraws everything.
	none := upd
	none.Message = msg("m4", 4)
	none.Deals = nil
	nd := decide(t, tdd.Next, mustNew(t, none), exampleIDs)
	if types(nd) != release.TypeTakenDown || len(nd.Events[0].Payload.(release.TakenDown).Territories) != 0 {
		t.Fatalf("no deals: %s", types(nd))
	}

	// Purge, then purge again.
	p, err := release.NewPurge(release.PurgeDraft{Message: msg("m5", 5), UPC: "00724349501058"})
	if err != nil {
		t.Fatal(err)
	}
	pd := decidePurge(t, nd.Next, p)
	if types(pd) != release.TypePurged || !pd.Next.Purged {
		t.Fatalf("purge: %s", types(pd))
	}
	p.Message = msg("m6", 6)
	if again := decidePurge(t, pd.Next, p); again.Outcome != release.Unchanged {
		t.Fatalf("second purge: %s", again.Outcome)
	}
	// Delivered again after a purge: a new first delivery.
	back := exampleDraft()
	back.Message = msg("m7", 7)
	if d := decide(t, pd.Next, mustNew(t, back), exampleIDs); types(d) != release.TypeDelivered {
		t.Fatalf("after purge: %s", types(d))
	}
}

func TestUsageClassification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		use, model string
		want       string
	}{
		{"PermanentDownload", "PayAsYouGoModel", "download"},
		{"OnDemandStream", "SubscriptionModel", "subscriptionStreaming"},
		{"NonInteractiveStream", "AdvertisementSupportedModel", "adSupportedStreaming"},
		{"Stream", "FreeOfChargeModel", "adSupportedStreaming"},
		{"ConditionalDownload", "SubscriptionModel", "subscriptionStreaming"},
		{"ConditionalDownload", "PayAsYouGoModel", ""},
		{"OnDemandStream", "", "subscriptionStreaming"},
		{"Webcast", "SubscriptionModel", ""},
	} {
		d := release.Deal{UseTypes: []string{tc.use}}
		if tc.model != "" {
			d.CommercialModels = []string{tc.model}
		}
		var got []string
		for _, u := range d.Usages() {
			got = append(got, string(u))
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%s under %s = %v, want %s", tc.use, tc.model, got, tc.want)
		}
	}
	excl := release.Deal{ExcludedTerritories: []string{"US"}, UseTypes: []string{"Stream"}}
	if excl.Covers("US") || !excl.Covers("GB") {
		t.Error("excluded territories")
	}
}

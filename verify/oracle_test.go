package verify

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

func day(s string) *time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return &t
}

func track(id int64, isrc, title string, number int) release.TrackInfo {
	return release.TrackInfo{TrackID: id, ISRC: isrc, Title: title, Artist: "Artist", ArtistID: 900, DurationSeconds: 200 + number, Disc: 1, Number: number}
}

func meta(upc, title string) release.Metadata {
	return release.Metadata{UPC: upc, Title: title, Artist: "Artist", Label: "Label", Type: "Album"}
}

// record builds a log record the way ingest writes it.
func record(t *testing.T, key string, seq int64, typ string, version int, data any) events.Record {
	t.Helper()
	env, err := events.NewEnvelope(typ, version, "/catalog/ingest", key, seq, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), "test/1", data)
	if err != nil {
		t.Fatal(err)
	}
	return events.Record{Topic: "t", Key: []byte(key), Value: env.Data, Headers: env.Headers()}
}

// offer is an expected offer.
type offer struct {
	from, to string
	price    string // "amount currency"
}

func (o *offer) String() string {
	if o == nil {
		return "none"
	}
	return fmt.Sprintf("%s..%s@%s", o.from, o.to, o.price)
}

func got(o *catalogue.Offer) *offer {
	if o == nil {
		return nil
	}
	s := func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.Format(time.DateOnly)
	}
	p := ""
	if o.Price != nil {
		p = o.Price.Amount + " " + o.Price.Currency
	}
	return &offer{s(o.From), s(o.To), p}
}

func same(a, b *offer) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return *a == *b
}

// TestOracleFold folds a hand-written log and checks every answer against
// what docs/events.md and docs/deals.md say it must be.
func TestOracleFold(t *testing.T) {
	album := []release.Deal{
		{Territories: []string{"Worldwide"}, ExcludedTerritories: []string{"FR"}, UseTypes: []string{"PermanentDownload"},
			CommercialModels: []string{"PayAsYouGoModel"}, Start: day("2020-01-01"), Price: &release.Price{Amount: "0.99", Currency: "EUR"}},
		{Territories: []string{"GB", "US"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"},
			Start: day("2020-02-01"), End: day("2030-01-01")},
		{Track: "GBAAA0000002", Territories: []string{"GB"}, UseTypes: []string{"OnDemandStream"},
			CommercialModels: []string{"AdvertisementSupportedModel"}, Start: day("2021-01-01")},
		{Territories: []string{"DE"}, TakeDown: true},
	}
	o := NewOracle()
	// Release 10, the album: delivered, its metadata changed, a replay of
	// that change, a track removed, and a new deal set.
	o.Record(record(t, "U10", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 10, Metadata: meta("U10", "Album"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(101, "GBAAA0000001", "One", 1), track(102, "GBAAA0000002", "Two", 2)}, Deals: album}))
	o.Record(record(t, "U10", 2, release.TypeMetadataChanged, 1, release.MetadataChanged{ReleaseID: 10, Metadata: meta("U10", "Album (Deluxe)"), ArtistID: 900}))
	o.Record(record(t, "U10", 2, release.TypeMetadataChanged, 1, release.MetadataChanged{ReleaseID: 10, Metadata: meta("U10", "Replayed"), ArtistID: 900}))

	now := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	e := Expect(o)
	check := func(e *Expected, id int64, terr string, status Status, download, subscription, adSupported *offer) {
		t.Helper()
		a := e.Answer(id, terr, now)
		if a.Status != status {
			t.Errorf("track %d in %s: status %s, want %s", id, terr, a.Status, status)
			return
		}
		for _, u := range []struct {
			name      string
			got, want *offer
		}{{"download", got(a.Track.Download), download}, {"subscription", got(a.Track.Subscription), subscription},
			{"ad-supported", got(a.Track.AdSupported), adSupported}} {
			if !same(u.got, u.want) {
				t.Errorf("track %d in %s: %s %v, want %v", id, terr, u.name, u.got, u.want)
			}
		}
	}
	check(e, 101, "GB", Found, &offer{"2020-01-01", "", "0.99 EUR"}, &offer{"2020-02-01", "2030-01-01", ""}, nil)
	check(e, 101, "JP", Found, &offer{"2020-01-01", "", "0.99 EUR"}, nil, nil)
	check(e, 101, "FR", NotAvailable, nil, nil, nil) // excluded
	check(e, 101, "DE", NotAvailable, nil, nil, nil) // taken down
	// Track two has a deal of its own: it uses that one only.
	check(e, 102, "GB", Found, nil, nil, &offer{"2021-01-01", "", ""})
	check(e, 102, "JP", NotAvailable, nil, nil, nil)
	if a := e.Answer(101, "GB", now); a.Track.Release.Title != "Album (Deluxe)" || a.Track.Release.Sequence != 2 || a.Track.Title != "One" {
		t.Errorf("after the metadata change and its replay: release %q at %d, track %q", a.Track.Release.Title, a.Track.Release.Sequence, a.Track.Title)
	}

	o.Record(record(t, "U10", 3, release.TypeTracksChanged, 1, release.TracksChanged{ReleaseID: 10, Removed: []string{"GBAAA0000002"},
		Tracks: []release.TrackInfo{track(101, "GBAAA0000001", "One (Remastered)", 1)}}))
	o.Record(record(t, "U10", 4, release.TypeDealsReplaced, 1, release.DealsReplaced{ReleaseID: 10, Deals: []release.Deal{
		{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}, Start: day("2019-01-01"), End: day("2024-01-01"),
			Price: &release.Price{Amount: "1.29", Currency: "GBP"}},
		{Territories: []string{"GB"}, UseTypes: []string{"Download"}, Start: day("2022-01-01"), Price: &release.Price{Amount: "2.00", Currency: "GBP"}},
		{Territories: []string{"US"}, UseTypes: []string{"PermanentDownload"}, End: day("2024-01-01")},
		{Territories: []string{"JP"}, UseTypes: []string{"Stream"}},
		{Territories: []string{"NO"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"PayAsYouGoModel"}},
		{Territories: []string{"SE"}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"FreeOfChargeModel"}, Start: day("2026-01-01")},
	}}))

	// Release 5 carries track 101 as well (a legacy shared id), and is
	// purged; release 20, a compilation, carries it live: the lowest live
	// release, 10, answers.
	o.Record(record(t, "U5", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 5, Metadata: meta("U5", "Old"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(101, "GBAAA0000001", "Old one", 1), track(501, "GBAAA0000501", "Gone", 2)},
		Deals:  []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"PermanentDownload"}}}}))
	o.Record(record(t, "U5", 2, release.TypePurged, 1, release.Purged{ReleaseID: 5, UPC: "U5"}))
	o.Record(record(t, "U20", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 20, Metadata: meta("U20", "Compilation"), ArtistID: 901,
		Tracks: []release.TrackInfo{track(101, "GBAAA0000001", "One (compilation edit)", 7), track(201, "GBAAA0000201", "Other", 8)},
		Deals:  []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"PermanentDownload"}}}}))
	// Release 7: purged, then delivered again; and taken down everywhere.
	o.Record(record(t, "U7", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 7, Metadata: meta("U7", "First"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(701, "GBAAA0000701", "Seven", 1)}, Deals: []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"Download"}}}}))
	o.Record(record(t, "U7", 2, release.TypePurged, 1, release.Purged{ReleaseID: 7, UPC: "U7"}))
	o.Record(record(t, "U7", 3, release.TypeDelivered, 2, release.Delivered{ReleaseID: 7, Metadata: meta("U7", "Back"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(701, "GBAAA0000701", "Seven", 1)}, Deals: []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"Download"}}}}))
	o.Record(record(t, "U7", 4, release.TypeTakenDown, 1, release.TakenDown{ReleaseID: 7, Deals: []release.Deal{}}))
	// Release 30: an event before its first delivery changes nothing.
	o.Record(record(t, "U30", 1, release.TypeMetadataChanged, 1, release.MetadataChanged{ReleaseID: 30, Metadata: meta("U30", "Never")}))
	// Release 40: a gap in its sequence is noted; the event still applies.
	o.Record(record(t, "U40", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 40, Metadata: meta("U40", "Forty"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(401, "GBAAA0000401", "Four", 1)}}))
	o.Record(record(t, "U40", 3, release.TypeDealsReplaced, 1, release.DealsReplaced{ReleaseID: 40, Deals: []release.Deal{
		{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}}}}))
	// Release 50: an unreadable record holds it and the records behind it.
	o.Record(record(t, "U50", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 50, Metadata: meta("U50", "Fifty"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(5001, "GBAAA0005001", "Five", 1)}}))
	bad := record(t, "U50", 2, release.TypeDealsReplaced, 1, release.DealsReplaced{ReleaseID: 50})
	bad.Value = []byte(`{"releaseId": 50, "deals": "not a list"}`)
	o.Record(bad)
	o.Record(record(t, "U50", 3, release.TypeDealsReplaced, 1, release.DealsReplaced{ReleaseID: 50, Deals: []release.Deal{
		{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}}}}))
	// Release 80: a track id twice in one tracklist breaks the contract
	// (docs/events.md): it holds the release too.
	o.Record(record(t, "U80", 1, release.TypeDelivered, 2, release.Delivered{ReleaseID: 80, Metadata: meta("U80", "Eighty"), ArtistID: 900,
		Tracks: []release.TrackInfo{track(801, "GBAAA0000801", "Eight", 1), track(801, "GBAAA0000802", "Eight again", 2)}}))
	// A schema version 1 delivery is read through the upcaster.
	o.Record(record(t, "U60", 1, release.TypeDelivered, 1, map[string]any{"releaseId": 60, "upc": "U60", "title": "Sixty",
		"artist": map[string]any{"id": 900, "name": "Artist"}, "label": "Label",
		"tracks":       []map[string]any{{"trackId": 601, "isrc": "GBAAA0000601", "title": "Six", "artist": map[string]any{"id": 900, "name": "Artist"}, "durationSeconds": 100, "disc": 1, "number": 1}},
		"availability": []map[string]any{{"territory": "GB", "downloadFrom": "2001-01-01T00:00:00Z"}}}))
	// An event type the fold does not know is passed over.
	o.Record(record(t, "U60", 2, "catalog.release.something-new", 1, map[string]any{"releaseId": 60}))

	e = Expect(o)
	check(e, 101, "GB", Found, &offer{"2019-01-01", "", "1.29 GBP"}, nil, nil) // merged: earliest start, open end, earliest price
	check(e, 101, "US", NotAvailable, nil, nil, nil)                           // ended
	check(e, 101, "JP", Found, nil, &offer{"", "", ""}, nil)                   // a stream with no model is subscription
	check(e, 101, "NO", NotAvailable, nil, nil, nil)                           // a stream under pay-as-you-go grants nothing
	check(e, 101, "SE", Found, nil, nil, &offer{"2026-01-01", "", ""})         // a future offer is shown
	check(e, 102, "GB", NotFound, nil, nil, nil)                               // removed from the tracklist
	check(e, 501, "GB", NotFound, nil, nil, nil)                               // its release purged
	check(e, 201, "GB", Found, &offer{"", "", ""}, nil, nil)
	check(e, 701, "GB", NotAvailable, nil, nil, nil) // back after the purge, then taken down
	check(e, 401, "GB", Found, &offer{"", "", ""}, nil, nil)
	check(e, 5001, "GB", Unchecked, nil, nil, nil)
	check(e, 801, "GB", Unchecked, nil, nil, nil)
	check(e, 601, "GB", Found, &offer{"2001-01-01", "", ""}, nil, nil)
	check(e, 999, "GB", NotFound, nil, nil, nil)

	a := e.Answer(101, "GB", now)
	if a.Track.Release.ID != 10 || a.Track.Title != "One (Remastered)" || a.Track.Release.Sequence != 4 || a.Track.Release.Title != "Album (Deluxe)" {
		t.Errorf("track 101: release %d %q at %d, title %q; want the album's (10) at 4", a.Track.Release.ID, a.Track.Release.Title,
			a.Track.Release.Sequence, a.Track.Title)
	}
	if a := e.Answer(701, "GB", now); a.Track.Release.Title != "Back" || a.Track.Release.Sequence != 4 {
		t.Errorf("track 701: release %q at %d", a.Track.Release.Title, a.Track.Release.Sequence)
	}
	want := LogStats{Events: 21, Applied: 15, Stale: 1, Ignored: 1, Unknown: 1, Unreadable: 3, Gaps: 1}
	if e.Stats != want {
		t.Errorf("stats %+v, want %+v", e.Stats, want)
	}
	if !e.rows[rowKey{101, 10}] || !e.rows[rowKey{101, 20}] || e.rows[rowKey{101, 5}] || e.rows[rowKey{102, 10}] {
		t.Errorf("rows: %v", e.rows)
	}
	if releases, live, purged, held, tracks, gone := e.Counts(); releases != 8 || live != 5 || purged != 1 || held != 2 || tracks != 5 || gone != 2 {
		t.Errorf("counts: %d releases, %d live, %d purged, %d held, %d live tracks, %d gone", releases, live, purged, held, tracks, gone)
	}
	if len(e.Notes) != 3 {
		t.Errorf("notes: %q", e.Notes)
	}
}

// TestTerritories: the territories worth checking are those a release's
// deals name, and one they name nowhere.
func TestTerritories(t *testing.T) {
	o := NewOracle()
	o.Apply("U1", 1, release.Delivered{ReleaseID: 1, Metadata: meta("U1", "x"), Tracks: []release.TrackInfo{track(1, "GBAAA0000001", "x", 1)},
		Deals: []release.Deal{{Territories: []string{"Worldwide"}, ExcludedTerritories: []string{"FR"}, UseTypes: []string{"Download"}},
			{Territories: []string{"US", "GB"}, UseTypes: []string{"Stream"}}}})
	ts := Expect(o).Territories(1, false, 7)
	if len(ts) != 4 || ts[0] != "FR" || ts[1] != "GB" || ts[2] != "US" || ts[3] == "FR" || ts[3] == "GB" || ts[3] == "US" {
		t.Errorf("territories %v, want FR GB US and one more", ts)
	}
	if all := Expect(o).Territories(1, true, 7); len(all) != 249 {
		t.Errorf("all territories: %d", len(all))
	}
}

// TestOffersAgreeWithTrackWindows: the oracle's reading of a deal set,
// deal by deal per territory, agrees with the domain's expansion
// (release.TrackWindows) on random deal sets. Both read docs/deals.md; a
// disagreement means one of them is wrong.
func TestOffersAgreeWithTrackWindows(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	all := release.Territories()
	isrcs := []string{"GBAAA0000001", "GBAAA0000002", "GBAAA0000003"}
	useTypes := []string{"PermanentDownload", "Download", "Stream", "OnDemandStream", "ConditionalDownload", "Webcast"}
	models := []string{"SubscriptionModel", "AdvertisementSupportedModel", "FreeOfChargeModel", "PayAsYouGoModel"}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	pick := func(n int) []string {
		var out []string
		for _, p := range r.Perm(len(all))[:n] {
			out = append(out, all[p])
		}
		return out
	}
	date := func() *time.Time {
		if r.IntN(3) == 0 {
			return nil
		}
		d := time.Date(2020+r.IntN(8), time.Month(1+r.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
		return &d
	}
	for round := 0; round < 300; round++ {
		var deals []release.Deal
		for k := 0; k < 1+r.IntN(8); k++ {
			d := release.Deal{}
			switch r.IntN(4) {
			case 0:
				d.Territories = []string{release.Worldwide}
			case 1:
				d.ExcludedTerritories = pick(1 + r.IntN(5))
			default:
				d.Territories = pick(1 + r.IntN(20))
			}
			if r.IntN(3) == 0 {
				d.Track = isrcs[r.IntN(len(isrcs))]
			}
			if r.IntN(8) == 0 {
				d.TakeDown = true
			} else {
				d.UseTypes = []string{useTypes[r.IntN(len(useTypes))]}
				if r.IntN(3) > 0 {
					d.CommercialModels = []string{models[r.IntN(len(models))]}
				}
			}
			d.Start, d.End = date(), date()
			if d.Start != nil && d.End != nil && !d.End.After(*d.Start) {
				d.End = nil
			}
			if r.IntN(2) == 0 {
				d.Price = &release.Price{Amount: fmt.Sprintf("%d.99", r.IntN(10)), Currency: "EUR"}
			}
			deals = append(deals, d)
		}
		for _, isrc := range isrcs {
			windows := map[string]map[release.Usage]release.Window{}
			for _, w := range release.TrackWindows(deals, isrc) {
				if windows[w.Territory] == nil {
					windows[w.Territory] = map[release.Usage]release.Window{}
				}
				windows[w.Territory][w.Usage] = w
			}
			for _, terr := range all {
				dl, sub, ad := offersIn(deals, isrc, terr, now)
				for _, u := range []struct {
					usage release.Usage
					got   *catalogue.Offer
				}{{release.UsageDownload, dl}, {release.UsageSubscription, sub}, {release.UsageAdSupported, ad}} {
					w, ok := windows[terr][u.usage]
					if ok && w.To != nil && !w.To.After(now) {
						ok = false
					}
					switch {
					case ok != (u.got != nil):
						t.Fatalf("round %d, %s in %s, %s: TrackWindows %v, oracle %v\ndeals: %s", round, isrc, terr, u.usage, ok, u.got != nil, js(deals))
					case ok && (stamp(w.From) != stamp(u.got.From) || stamp(w.To) != stamp(u.got.To) || priceOf(w.Price) != price(u.got.Price)):
						t.Fatalf("round %d, %s in %s, %s: TrackWindows %s..%s %s, oracle %s..%s %s\ndeals: %s", round, isrc, terr, u.usage,
							stamp(w.From), stamp(w.To), priceOf(w.Price), stamp(u.got.From), stamp(u.got.To), price(u.got.Price), js(deals))
					}
				}
			}
		}
	}
}

func priceOf(p *release.Price) string {
	if p == nil {
		return ""
	}
	return price(&catalogue.Price{Amount: p.Amount, Currency: p.Currency, Code: p.Code})
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestOwnersChangedIsNotAHeldRelease: an owners-changed event (an
// operator's transfer) leaves the release readable; the read model's row
// reflects its sequence number like any other event's.
func TestOwnersChangedIsNotAHeldRelease(t *testing.T) {
	o := NewOracle()
	o.Apply("U1", 1, release.Delivered{ReleaseID: 1, Metadata: meta("U1", "x"), Tracks: []release.TrackInfo{track(1, "GBAAA0000001", "x", 1)},
		Deals: []release.Deal{}, Owners: []string{"PADPIDA0000000001"}})
	o.Apply("U1", 2, release.OwnersChanged{ReleaseID: 1, Owners: []string{"PADPIDA0000000002"}})
	if _, _, _, held, _, _ := Expect(o).Counts(); held != 0 {
		t.Fatalf("an owners-changed event held the release: %d held", held)
	}
	if r := o.releases[1]; r == nil || r.version != 2 || !r.exists {
		t.Fatalf("release after owners-changed: %+v", r)
	}
}

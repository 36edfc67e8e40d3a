package events_test

import (
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// TestDealsDecodeAsEncodingJSON decodes deal sets of every shape, those
// the producers write and others, through DecodeRecord and through the
// ordinary decoder, and wants the same payload or the same error.
func TestDealsDecodeAsEncodingJSON(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(2027, 6, 30, 12, 30, 0, 500, time.UTC)
	for name, deals := range map[string]string{
		"as written": mustDeals(t, []release.Deal{
			{Territories: []string{"GB", "IE"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &start, End: &end, Price: &release.Price{Amount: "0.99", Currency: "GBP", Code: "FRONT"}},
			{Track: "GBBEN0000001", Territories: []string{"Worldwide"}, ExcludedTerritories: []string{"US"},
				UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel", "AdvertisementSupportedModel"}},
			{Territories: []string{"FR"}, TakeDown: true},
			{Territories: []string{"ZZ-unheard-of"}, UseTypes: []string{"SomeNewUse"}, Price: &release.Price{Code: "X"}},
		}),
		// Larger than the decoder's scratch arrays start (1024 strings, 256
		// times, 128 prices): they grow while the set is read.
		"every territory": mustDeals(t, everyTerritory(start)),
		"on sale everywhere": mustDeals(t, []release.Deal{
			{Territories: release.Territories(), UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start},
			{Territories: []string{"GB"}, ExcludedTerritories: release.Territories(), UseTypes: []string{"PermanentDownload"}},
			{Territories: release.Territories()[1:], UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"}},
		}),
		"no deals":             `[]`,
		"null deals":           `null`,
		"empty lists":          `[{"territories":[],"useTypes":[]}]`,
		"escaped":              `[{"territories":["G\u0042"],"track":"a\"b"}]`,
		"invalid UTF-8":        "[{\"track\":\"\xff\"}]",
		"null fields":          `[{"territories":null,"start":null,"price":null,"track":null,"takeDown":null}]`,
		"unknown key":          `[{"territories":["GB"],"future":{"a":[1,2]}}]`,
		"other case":           `[{"Territories":["GB"],"TRACK":"x"}]`,
		"repeated key":         `[{"territories":["GB"],"territories":["FR"],"price":{"amount":"1"},"price":{"code":"C"}}]`,
		"time with offset":     `[{"start":"2026-01-01T01:00:00+01:00","end":"2026-02-01T00:00:00.123456789Z"}]`,
		"loose time":           `[{"start":"2026-01-01T00:00:00.Z"}]`,
		"price repeated field": `[{"price":{"amount":"1","amount":"2"}}]`,
		"price unknown field":  `[{"price":{"amount":"1","discount":"2"}}]`,
		"takeDown false":       `[{"takeDown":false,"territories":["GB"]}]`,
		"not a list":           `[{"territories":"GB"}]`,
		"a number":             `[{"territories":[1]}]`,
		"not a deal":           `[1]`,
		"bad time":             `[{"start":"yesterday"}]`,
		"not a bool":           `[{"takeDown":"yes"}]`,
		"deals not a list":     `{"territories":["GB"]}`,
		"cut short":            `[{"territories":["GB"]`,
		"one good one unknown": `[{"territories":["GB"]},{"x":1}]`,
		"good then wrong type": `[{"territories":["GB"]},{"territories":[true]}]`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			value := []byte(`{"releaseId":9,"title":"T","deals":` + deals + `}`)
			var want release.Delivered
			wantErr := jsonv1.Unmarshal(value, &want)
			at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			e, err := events.NewEnvelope(want.EventType(), release.SchemaVersions[want.EventType()], "/catalog/ingest", "5012345678900", 1, at, "m", struct{}{})
			if err != nil {
				t.Fatal(err)
			}
			e.Data = value
			_, p, ok, err := events.DecodePayload(e)
			if !ok {
				t.Fatal("the type is not registered")
			}
			switch {
			case wantErr != nil:
				if err == nil {
					t.Fatalf("decoded %+v, want the ordinary decoder's error %v", p, wantErr)
				}
				if got := err.Error(); got != "malformed event: decode "+want.EventType()+": "+wantErr.Error() {
					t.Errorf("error %q, want the ordinary decoder's %q", got, wantErr)
				}
			case err != nil:
				t.Fatalf("error %v; the ordinary decoder decodes it", err)
			case !reflect.DeepEqual(p, want):
				t.Errorf("decoded\n%#v\nwant\n%#v", p.(release.Delivered).Deals, want.Deals)
			}
		})
	}
}

// everyTerritory is a priced download, subscription and ad-supported
// streaming in each of the 249 territories, each deal with its own
// territory list, start and end.
func everyTerritory(start time.Time) []release.Deal {
	var out []release.Deal
	for i, t := range release.Territories() {
		s, e := start.Add(time.Duration(i)*time.Hour), start.AddDate(1, 0, i)
		out = append(out,
			release.Deal{Territories: []string{t}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &s, End: &e, Price: &release.Price{Amount: fmt.Sprint(i), Currency: "EUR"}},
			release.Deal{Territories: []string{t, "GB"}, ExcludedTerritories: []string{}, UseTypes: []string{"OnDemandStream"},
				CommercialModels: []string{"SubscriptionModel"}, Start: &s},
			release.Deal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, End: &e})
	}
	return out
}

func mustDeals(t *testing.T, deals []release.Deal) string {
	b, err := jsonv1.Marshal(deals)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// catalogueRecord is a first delivery in the shape of the bench
// catalogue's (bench/): 12 tracks and two deals, subscription streaming
// and a priced download, each over all 249 territories.
func catalogueRecord(b *testing.B) events.Record {
	b.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := release.Delivered{ReleaseID: 1, ArtistID: 7, Metadata: release.Metadata{
		UPC: release.WithCheckDigit("50123456789"), Title: "Benchmark Album", Type: "Album", Label: "Bench Records", Artist: "The Benchmarks",
		Artists: []release.Credit{{Name: "The Benchmarks", Role: "MainArtist"}}, PLine: "2026 Bench Records", CLine: "2026 Bench Records Ltd",
		Genre: "Pop", ParentalWarning: "NotExplicit", ReleaseDate: "2026-01-01"},
		Deals: []release.Deal{
			{Territories: release.Territories(), UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start},
			{Territories: release.Territories(), UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &start, Price: &release.Price{Amount: "9.99", Currency: "EUR"}},
		}}
	for k := 1; k <= 12; k++ {
		ev.Tracks = append(ev.Tracks, release.TrackInfo{TrackID: int64(k), ISRC: fmt.Sprintf("GBBEN%07d", k), Title: fmt.Sprintf("Track %d", k),
			Artist: "The Benchmarks", ArtistID: 7, DurationSeconds: 200, Disc: 1, Number: k, PLine: "2026 Bench Records", ParentalWarning: "NotExplicit"})
	}
	env, err := events.NewEnvelope(ev.EventType(), release.SchemaVersions[ev.EventType()], "/catalog/ingest", ev.UPC, 1, start, "bench", ev)
	if err != nil {
		b.Fatal(err)
	}
	return events.Record{Topic: "bench", Key: []byte(ev.UPC), Value: env.Data, Headers: env.Headers()}
}

// BenchmarkDecodeBatch decodes a projector's batch: 500 records of
// catalogueRecord's shape, all held until the batch ends, as a
// projection's handler holds them. ns/op and allocs/op are per event;
// retained-B/event is the heap the decoded batch keeps live, per event
// (what a batch in flight costs each partition consumer).
func BenchmarkDecodeBatch(b *testing.B) {
	const batch = 500
	rec := catalogueRecord(b)
	held := make([]events.Payload, batch)
	decode := func(i int) {
		_, p, ok, err := events.DecodeRecord(rec)
		if err != nil || !ok {
			b.Fatalf("decode: ok %v, %v", ok, err)
		}
		held[i%batch] = p
	}
	var before, after runtime.MemStats
	clear(held)
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range batch {
		decode(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	retained := float64(after.HeapAlloc-before.HeapAlloc) / batch

	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		decode(i)
		i++
	}
	b.ReportMetric(retained, "retained-B/event")
}

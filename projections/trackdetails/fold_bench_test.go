package trackdetails_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// benchRecord is a first delivery as a projector reads it from Kafka: 12
// tracks and a real deal set, a priced download, subscription and
// ad-supported streaming in each of the 249 territories (747 deals).
func benchRecord(b *testing.B) events.Record {
	b.Helper()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ev := release.Delivered{ReleaseID: 1, ArtistID: 7, Metadata: release.Metadata{
		UPC: release.WithCheckDigit("50123456789"), Title: "Benchmark Album", Type: "Album", Label: "Bench Records", Artist: "The Benchmarks",
		Artists: []release.Credit{{Name: "The Benchmarks", Role: "MainArtist"}}, PLine: "2026 Bench Records", CLine: "2026 Bench Records Ltd",
		Genre: "Pop", ParentalWarning: "NotExplicit", ReleaseDate: "2026-01-01"}}
	for _, t := range release.Territories() {
		ev.Deals = append(ev.Deals,
			release.Deal{Territories: []string{t}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: &start, Price: &release.Price{Amount: "9.99", Currency: "EUR"}},
			release.Deal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start},
			release.Deal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, Start: &start})
	}
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

// BenchmarkDecodeFold is a rebuild's CPU per event outside the database:
// a first delivery's record decoded (envelope, payload) and folded into
// its release's rows (metadata, tracklist, the deals compacted into
// terms). The bytes per op are the garbage each event leaves.
func BenchmarkDecodeFold(b *testing.B) {
	rec := benchRecord(b)
	b.SetBytes(int64(len(rec.Value)))
	b.ReportAllocs()
	for b.Loop() {
		c, ok, err := projections.Decode(rec)
		if err != nil || !ok {
			b.Fatalf("decode: ok %v, %v", ok, err)
		}
		rows := map[int64]*trackdetails.Release{}
		if !trackdetails.Fold(rows, c) {
			b.Fatal("not applied")
		}
	}
}

// BenchmarkFold is the fold alone (BenchmarkDecodeFold without decoding).
func BenchmarkFold(b *testing.B) {
	c, _, err := projections.Decode(benchRecord(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		rows := map[int64]*trackdetails.Release{}
		if !trackdetails.Fold(rows, c) {
			b.Fatal("not applied")
		}
	}
}

package trackdetails_test

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
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

// catalogueRecord is a first delivery in the shape of the bench
// catalogue's (bench/, ingest/gen): 12 tracks and two deals, subscription
// streaming and a priced download, each over all 249 territories.
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

// inFlight is a store that applies nothing: it measures the live heap
// above base when a batch reaches it, all of it decoded (its forced
// collection outside b's timer).
type inFlight struct {
	b          *testing.B
	base, most uint64
}

func (s *inFlight) Apply(_ context.Context, _ projections.Checkpoint, items []projections.Item) (projections.ApplyResult, error) {
	s.b.StopTimer()
	defer s.b.StartTimer()
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > s.base {
		s.most = max(s.most, m.HeapAlloc-s.base)
	}
	return projections.ApplyResult{Applied: len(items)}, nil
}

// BenchmarkBatchInFlight measures what a batch in flight holds: a batch of
// 500 first deliveries decoded by the projection's handler, with and
// without Prepare, as it reaches the store (every record decoded, none
// applied yet), for the benchmark's 747-deal set and the bench catalogue's
// two deals over every territory. inflight-B/event is the live heap the
// decoded batch adds over its records, per event; a projector holds up to
// one such batch per partition and generation it consumes. ns/op is a
// batch's decoding (and preparing).
func BenchmarkBatchInFlight(b *testing.B) {
	const batch = 500
	for _, shape := range []struct {
		name string
		rec  func(*testing.B) events.Record
	}{{"deals=747", benchRecord}, {"deals=2x249", catalogueRecord}} {
		for _, prepare := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/prepare=%v", shape.name, prepare), func(b *testing.B) {
				rec := shape.rec(b)
				recs := make([]events.Record, batch)
				for i := range recs {
					recs[i] = rec
					recs[i].Offset = int64(i)
				}
				var opts []projections.HandlerOption
				if prepare {
					opts = append(opts, projections.WithPrepare(trackdetails.Prepare))
				}
				st := &inFlight{b: b}
				h, err := projections.NewHandler(st, nil, slog.New(slog.DiscardHandler), opts...)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					b.StopTimer()
					var m runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&m)
					st.base = m.HeapAlloc
					b.StartTimer()
					if err := h.HandleBatch(context.Background(), events.Batch{Topic: "bench", Records: recs}); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(st.most)/batch, "inflight-B/event")
			})
		}
	}
}

// BenchmarkDecodeFold is a rebuild's CPU per event outside the database:
// a first delivery's record decoded (envelope, payload) and folded into
// its release's rows (metadata, tracklist, the deals compacted into
// terms). The bytes per op are the garbage each event leaves.
func BenchmarkDecodeFold(b *testing.B) { decodeFold(b, benchRecord(b)) }

// decodeFold decodes and folds rec once per iteration.
func decodeFold(b *testing.B, rec events.Record) {
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

// BenchmarkDecodeFoldCatalogue is BenchmarkDecodeFold for a first delivery
// in the bench catalogue's shape (catalogueRecord): what a rebuild of the
// bench catalogue spends per event outside the database.
func BenchmarkDecodeFoldCatalogue(b *testing.B) { decodeFold(b, catalogueRecord(b)) }

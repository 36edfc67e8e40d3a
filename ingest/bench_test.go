package ingest_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// benchAlbum is a realistic album delivery: 12 tracks and, like the
// DDEX single sample, three deals in each of the 249 territories
// (download under pay-as-you-go with a price, subscription and
// ad-supported streaming): 747 deals.
func benchAlbum(i int) release.Draft {
	d := release.Draft{
		Message: release.Message{Sender: "PADPIDA0000000001", ID: fmt.Sprintf("bench-%d", i), Created: time.Now()},
		UPC:     release.WithCheckDigit(fmt.Sprintf("09%011d", i)), Title: fmt.Sprintf("Benchmark Album %d", i),
		Artist: "The Benchmarks", Label: "Bench Records", Type: "Album", PLine: "2026 Bench Records", ReleaseDate: "2026-01-01",
	}
	for k := 0; k < 12; k++ {
		d.Tracks = append(d.Tracks, release.DraftTrack{ISRC: fmt.Sprintf("GBBEN%07d", i*12+k), Title: fmt.Sprintf("Track %d", k+1),
			Duration: "PT3M25S", Disc: 1, Number: k + 1, ParentalWarning: "NotExplicit"})
	}
	for _, t := range release.Territories() {
		d.Deals = append(d.Deals,
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"},
				Start: "2026-01-01", PriceAmount: "9.99", PriceCurrency: "EUR"},
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"OnDemandStream", "ConditionalDownload"}, CommercialModels: []string{"SubscriptionModel"}, Start: "2026-01-01"},
			release.DraftDeal{Territories: []string{t}, UseTypes: []string{"OnDemandStream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, Start: "2026-01-01"})
	}
	return d
}

// BenchmarkIngestAlbum measures deliveries from validated input to events
// durable in Kafka (state and outbox in Postgres, relay, acks=all), four
// deliveries at a time.
func BenchmarkIngestAlbum(b *testing.B) { benchIngestAlbum(b, 2) } // 2 x GOMAXPROCS callers: 4 on a 2-core machine

// BenchmarkIngestAlbumInFlight is BenchmarkIngestAlbum with 64 deliveries
// at a time on a 2-core machine, as an HTTP client posting at a steady
// rate keeps many in flight: it shows what the confirmation of many
// waiting deliveries at once costs.
func BenchmarkIngestAlbumInFlight(b *testing.B) { benchIngestAlbum(b, 32) }

func benchIngestAlbum(b *testing.B, parallelism int) {
	f := newFixture(b)
	var n atomic.Int64
	b.SetParallelism(parallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := f.svc.Deliver(context.Background(), benchAlbum(int(n.Add(1))))
			if err != nil || res.Status != "accepted" {
				b.Errorf("deliver: %v %+v", err, res)
				return
			}
		}
	})
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/secs, "releases/s")
	b.ReportMetric(float64(12*b.N)/secs, "tracks/s")
}

// BenchmarkRawProduce is the limit underneath: the same number of records
// of the same size (one delivered event of benchAlbum), produced with the
// same client settings (acks=all, idempotent, one at a time per caller)
// straight to Kafka, with no validation, Postgres or outbox.
func BenchmarkRawProduce(b *testing.B) {
	f := newFixture(b)
	prod, err := events.NewProducer(f.kafka)
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	r, err := release.New(benchAlbum(0))
	if err != nil {
		b.Fatal(err)
	}
	dec, _ := release.Decide(release.State{ReleaseID: 1}, r, release.IDs{}, release.BySender)
	env, err := events.NewEnvelope(release.TypeDelivered, 2, "/bench", "x", 1, time.Now(), "bench", dec.Events[0].Payload)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(2)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := env
			e.Subject = fmt.Sprint(n.Add(1))
			if _, err := prod.Send([]events.Outgoing{{Topic: f.topic, Envelope: e}}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(len(env.Data)), "bytes/record")
}

package api_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// benchRow is a track row shaped like the 1M benchmark's: a release-wide
// download deal with a price and two streaming deals, each worldwide but
// for a few territories, so the cached payload is about as large.
func benchRow() trackdetails.TrackRow {
	from := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	price := &release.Price{Amount: "0.99", Currency: "GBP", Code: "BAND2"}
	var windows []release.Window
	for i, t := range release.Territories() {
		if i%17 != 3 {
			windows = append(windows, release.Window{Territory: t, Usage: release.UsageDownload, From: &from, Price: price})
		}
		if i%13 != 5 {
			windows = append(windows, release.Window{Territory: t, Usage: release.UsageSubscription, From: &from})
			windows = append(windows, release.Window{Territory: t, Usage: release.UsageAdSupported, From: &from})
		}
	}
	return trackdetails.TrackRow{
		Generation: 1, Version: 3,
		Track: catalogue.Track{
			ID: 12345, ISRC: "USCA29600191", Title: "I Love You (Remastered 2014)", Version: "Remastered",
			Artist: catalogue.Artist{ID: 437, Name: "The Dandy Warhols"}, DurationSeconds: 252, Disc: 1, Number: 5,
			PLine: "2014 Noz Recordings", ParentalWarning: "NotExplicit",
			Release: catalogue.Release{
				ID: 1302, UPC: "00724349501058", GRid: "A10302B0001234567Q", CatalogNumber: "CAT-0001302",
				Title: "...The Dandy Warhols Come Down", Version: "Deluxe Edition", Type: "Album",
				Artist: catalogue.Artist{ID: 437, Name: "The Dandy Warhols"}, Label: "Capitol Records",
				PLine: "1997 Capitol Records", ReleaseDate: "1997-07-15", Sequence: 3,
			},
		},
		Terms: trackdetails.Compact(windows),
	}
}

// memoryRows is a RowSource holding one row; the benchmark reads it once,
// to fill the cache.
type memoryRows struct{ row trackdetails.TrackRow }

func (m memoryRows) TrackRow(context.Context, int64) (trackdetails.TrackRow, error) {
	return m.row, nil
}

// memoryCache is a HotCache holding one payload, as Redis would hand it back.
type memoryCache struct{ payload []byte }

func (m *memoryCache) Get(context.Context, int64, int64) ([]byte, projections.ReleaseVersion, bool, error) {
	return append([]byte(nil), m.payload...), projections.ReleaseVersion{}, true, nil
}

func (m *memoryCache) Fill(_ context.Context, _, _ int64, _ projections.ReleaseVersion, payload []byte, _ time.Time) (bool, error) {
	m.payload = append(m.payload[:0], payload...)
	return true, nil
}

// BenchmarkTrackDetails serves track/details from a hot cache: the API's
// own share of a Redis-hot read (decode the cached row, pick the
// territory's offers, render, tag), without the network.
func BenchmarkTrackDetails(b *testing.B) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cache := &memoryCache{}
	reader, err := trackdetails.NewCachedReader(memoryRows{benchRow()}, cache, log)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := reader.Row(context.Background(), 12345); err != nil { // fills the cache
		b.Fatal(err)
	}
	b.Logf("cached payload: %d bytes", len(cache.payload))
	h, err := api.NewHandler(api.Config{Now: func() time.Time { return fixtureNow }}, reader, log)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, accept string }{{"xml", ""}, {"json", "application/json"}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/1.2/track/details?trackId=12345&country=GB&usageTypes=download,subscriptionstreaming", nil)
			if bc.accept != "" {
				req.Header.Set("Accept", bc.accept)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("status %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

package api_test

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/domain/catalogue"
)

// referenceDir holds the 7digital reference and its fixtures, outside the
// repository.
const referenceDir = "../../shared/reference/7digital"

// fixture reads a reference fixture, skipping the test when the reference
// folder is not there.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(referenceDir, name))
	if os.IsNotExist(err) {
		t.Skipf("reference fixture %s not found (expected the shared reference beside the repository): %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixtureNow is the clock of the tests: after every offer below started.
var fixtureNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(s string) *time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return &t
}

// dandyWarhols is the release of track-details-ok-trackid-12345.xml.
var dandyWarhols = catalogue.Release{
	ID: 1302, UPC: "00724349501058", Title: "...The Dandy Warhols Come Down", Type: "Album",
	Artist: catalogue.Artist{ID: 437, Name: "The Dandy Warhols"}, Sequence: 7,
}

// fixtureTrack mirrors track-details-ok-trackid-12345.xml: the values the
// fixture shows, as our read model would hold them.
func fixtureTrack() catalogue.Track {
	return catalogue.Track{
		ID: 12345, ISRC: "USCA29600191", Title: "I Love You", Artist: catalogue.Artist{ID: 437, Name: "The Dandy Warhols"},
		DurationSeconds: 252, Disc: 1, Number: 5, PLine: "2014 Noz Recordings", ParentalWarning: "NotExplicit",
		Release: dandyWarhols, Territory: "GB",
		Download: &catalogue.Offer{From: at("1997-07-03T00:00:00Z"), Price: &catalogue.Price{Amount: "0.99", Currency: "GBP"}},
	}
}

// stored is a track as the fake read model holds it: its offers per
// territory. An offer whose To has passed is not returned, as the real
// reader does.
type stored struct {
	track  catalogue.Track
	offers map[string]offers
}

type offers struct{ download, subscription, adSupported *catalogue.Offer }

// fakeCatalogue is a TrackReader and IdentifierReader over tracks held in
// memory: a fake of the API's own ports, not of a database.
type fakeCatalogue struct {
	mu     sync.Mutex
	tracks map[int64]stored
	fail   error
	calls  int
}

func newFakeCatalogue(ts ...stored) *fakeCatalogue {
	f := &fakeCatalogue{tracks: map[int64]stored{}}
	for _, s := range ts {
		f.tracks[s.track.ID] = s
	}
	return f
}

func (f *fakeCatalogue) put(s stored) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tracks[s.track.ID] = s
}

func (f *fakeCatalogue) Track(_ context.Context, id int64, territory string, now time.Time) (catalogue.Track, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return catalogue.Track{}, f.fail
	}
	s, ok := f.tracks[id]
	if !ok {
		return catalogue.Track{}, fmt.Errorf("track %d: %w", id, catalogue.ErrTrackNotFound)
	}
	t := s.track
	t.Territory = territory
	live := func(o *catalogue.Offer) *catalogue.Offer {
		if o == nil || (o.To != nil && !o.To.After(now)) {
			return nil
		}
		return o
	}
	o := s.offers[territory]
	t.Download, t.Subscription, t.AdSupported = live(o.download), live(o.subscription), live(o.adSupported)
	return t, nil
}

func (f *fakeCatalogue) TrackIDsByISRC(_ context.Context, isrc string) ([]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []int64
	for id, s := range f.tracks {
		if s.track.ISRC == isrc {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

func (f *fakeCatalogue) TracksByUPC(ctx context.Context, upc, territory string, now time.Time) ([]catalogue.Track, error) {
	f.mu.Lock()
	var ids []int64
	for id, s := range f.tracks {
		if s.track.Release.UPC == upc {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int64) int { // disc and track order
		ta, tb := f.tracks[a].track, f.tracks[b].track
		return cmp.Or(cmp.Compare(ta.Disc, tb.Disc), cmp.Compare(ta.Number, tb.Number))
	})
	f.mu.Unlock()
	var out []catalogue.Track
	for _, id := range ids {
		t, err := f.Track(ctx, id, territory, now)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// fixtureStored is fixtureTrack in the fake read model: download in GB
// (GBP) and IE (EUR), subscription streaming in GB.
func fixtureStored() stored {
	t := fixtureTrack()
	return stored{track: t, offers: map[string]offers{
		"GB": {download: t.Download, subscription: &catalogue.Offer{From: at("1997-07-03T00:00:00Z")}},
		"IE": {download: &catalogue.Offer{From: at("1997-07-03T00:00:00Z"), Price: &catalogue.Price{Amount: "1.29", Currency: "EUR"}}},
	}}
}

// newServer serves the API over the fake catalogue, with the identifier
// routes, at the fixed clock.
func newServer(t *testing.T, f *fakeCatalogue, opts ...api.Option) http.Handler {
	t.Helper()
	if opts == nil {
		opts = []api.Option{api.WithIdentifiers(f)}
	}
	h, err := api.NewHandler(api.Config{Now: func() time.Time { return fixtureNow }}, f, slog.New(slog.NewTextHandler(io.Discard, nil)), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get sends GET target with header pairs (name, value, …).
func get(t *testing.T, h http.Handler, target string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

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
	"strings"
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
	// owners are the parties each release belongs to.
	owners map[int64][]string
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

// The fake's identifiers read model is derived from its tracks: a
// release is what its tracks name, owned by the parties in owners.

func (f *fakeCatalogue) TracksByISRC(_ context.Context, isrc string) ([]catalogue.IdentifiedTrack, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []catalogue.IdentifiedTrack
	for id, s := range f.tracks {
		if s.track.ISRC == isrc {
			out = append(out, catalogue.IdentifiedTrack{ID: id, ReleaseID: s.track.Release.ID, ISRC: isrc})
		}
	}
	slices.SortFunc(out, func(a, b catalogue.IdentifiedTrack) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func (f *fakeCatalogue) ReleaseByGTIN(_ context.Context, gtin string) (catalogue.IdentifiedRelease, bool, error) {
	return f.releaseWhere(func(r catalogue.Release) bool { return r.UPC != "" && strings.Repeat("0", 14-len(r.UPC))+r.UPC == gtin })
}

func (f *fakeCatalogue) ReleaseByGRid(_ context.Context, grid string) (catalogue.IdentifiedRelease, bool, error) {
	return f.releaseWhere(func(r catalogue.Release) bool { return r.GRid != "" && r.GRid == grid })
}

func (f *fakeCatalogue) releaseWhere(match func(catalogue.Release) bool) (catalogue.IdentifiedRelease, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rel catalogue.IdentifiedRelease
	found := false
	for _, s := range f.tracks {
		if r := s.track.Release; match(r) && (!found || r.ID < rel.ID) {
			rel, found = catalogue.IdentifiedRelease{Release: r}, true
		}
	}
	var ts []catalogue.Track
	for _, s := range f.tracks {
		if found && s.track.Release.ID == rel.ID {
			ts = append(ts, s.track)
		}
	}
	slices.SortFunc(ts, func(a, b catalogue.Track) int { // disc and track order
		return cmp.Or(cmp.Compare(a.Disc, b.Disc), cmp.Compare(a.Number, b.Number))
	})
	for _, t := range ts {
		rel.Tracks = append(rel.Tracks, catalogue.IdentifiedTrack{ID: t.ID, ReleaseID: rel.ID, ISRC: t.ISRC, Disc: t.Disc, Number: t.Number})
	}
	return rel, found, nil
}

func (f *fakeCatalogue) ReleasesByParty(_ context.Context, party string, page, size int) ([]catalogue.IdentifiedRelease, int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	byID := map[int64]catalogue.Release{}
	for _, s := range f.tracks {
		if slices.Contains(f.owners[s.track.Release.ID], party) {
			byID[s.track.Release.ID] = s.track.Release
		}
	}
	var all []catalogue.IdentifiedRelease
	for _, r := range byID {
		all = append(all, catalogue.IdentifiedRelease{Release: r, Owners: f.owners[r.ID]})
	}
	slices.SortFunc(all, func(a, b catalogue.IdentifiedRelease) int { return cmp.Compare(a.ID, b.ID) })
	from := min((page-1)*size, len(all))
	return all[from:min(from+size, len(all))], len(all), nil
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

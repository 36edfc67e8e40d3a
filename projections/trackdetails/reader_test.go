package trackdetails_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"reflect"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// oneEntry is a HotCache holding one payload.
type oneEntry struct{ payload []byte }

func (c *oneEntry) Get(context.Context, int64, int64) ([]byte, projections.ReleaseVersion, bool, error) {
	return c.payload, projections.ReleaseVersion{}, c.payload != nil, nil
}

func (c *oneEntry) Fill(context.Context, int64, int64, projections.ReleaseVersion, []byte, time.Time) (bool, error) {
	return false, nil
}

// rowSource answers with one row and counts the reads.
type rowSource struct {
	row   trackdetails.TrackRow
	reads int
}

func (s *rowSource) TrackRow(context.Context, int64) (trackdetails.TrackRow, error) {
	s.reads++
	return s.row, nil
}

// TestCachedRowDecodesAsEncodingJSON holds the hot path's decoder to
// encoding/json's reading of the same payload, and a payload it refuses to
// a read of the read model.
func TestCachedRowDecodesAsEncodingJSON(t *testing.T) {
	from := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2031, 1, 1, 12, 30, 0, 0, time.FixedZone("", 3600))
	windows := []release.Window{
		{Territory: "GB", Usage: release.UsageDownload, From: &from, Price: &release.Price{Amount: "0.99", Currency: "GBP", Code: "B2"}},
		{Territory: "FR", Usage: release.UsageSubscription, From: &from, To: &to},
		{Territory: "DE", Usage: release.UsageAdSupported},
	}
	row := trackdetails.TrackRow{Generation: 4, Version: 9, Terms: trackdetails.Compact(windows), Track: catalogue.Track{
		ID: 7, ISRC: "GBAAA0000001", Title: "<Title> & \"more\" é", Artist: catalogue.Artist{ID: 3, Name: "A"}, DurationSeconds: 61,
		Disc: 1, Number: 2, PLine: "p", ParentalWarning: "Explicit",
		Release: catalogue.Release{ID: 5, UPC: "0123", Title: "R", Label: "L", Sequence: 9},
	}}
	payload, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	var want trackdetails.TrackRow
	if err := json.Unmarshal(payload, &want); err != nil {
		t.Fatal(err)
	}
	src := &rowSource{row: row}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := trackdetails.NewCachedReader(src, &oneEntry{payload: payload}, log)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Row(context.Background(), 7); err != nil { // learns the live generation
		t.Fatal(err)
	}
	got, err := r.Row(context.Background(), 7)
	if err != nil {
		t.Fatal(err)
	}
	if src.reads != 1 {
		t.Fatalf("read model read %d times, want once (the second read is a hit)", src.reads)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("cached row decoded as\n%+v\nencoding/json decodes it as\n%+v", got, want)
	}
	for _, terr := range []string{"GB", "FR", "DE", "US"} {
		now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
		if g, w := got.In(terr, now), want.In(terr, now); !reflect.DeepEqual(g, w) {
			t.Fatalf("In(%s) = %+v, want %+v", terr, g, w)
		}
	}

	bad := &rowSource{row: row}
	r, _ = trackdetails.NewCachedReader(bad, &oneEntry{payload: []byte(`{"g":4,"v":9,"t":{"ID":"seven"}}`)}, log)
	for range 2 {
		if got, err := r.Row(context.Background(), 7); err != nil || !reflect.DeepEqual(got, row) {
			t.Fatalf("Row with an undecodable entry = %+v, %v; want the read model's row", got, err)
		}
	}
	if bad.reads != 2 {
		t.Fatalf("read model read %d times, want 2 (an undecodable entry is a miss)", bad.reads)
	}
}

// TestCachedRowFollowsPayload: a row decoded before is answered again
// only for the same payload bytes; a changed entry is decoded anew.
func TestCachedRowFollowsPayload(t *testing.T) {
	rowAt := func(version int64, title string) (trackdetails.TrackRow, []byte) {
		row := trackdetails.TrackRow{Generation: 4, Version: version, Track: catalogue.Track{
			ID: 7, Title: title, Release: catalogue.Release{ID: 5, Title: "R", Sequence: version}}}
		payload, err := json.Marshal(row)
		if err != nil {
			t.Fatal(err)
		}
		return row, payload
	}
	v1, p1 := rowAt(1, "one")
	v2, p2 := rowAt(2, "two")
	entry := &oneEntry{payload: p1}
	r, err := trackdetails.NewCachedReader(&rowSource{row: v1}, entry, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct {
		payload []byte
		want    trackdetails.TrackRow
	}{{p1, v1}, {p1, v1}, {p2, v2}, {p2, v2}, {append([]byte(nil), p1...), v1}, {[]byte(string(p2)), v2}} {
		entry.payload = step.payload
		got, err := r.Row(context.Background(), 7)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, step.want) {
			t.Fatalf("step %d: Row = %+v, want %+v", i, got, step.want)
		}
	}
}

// BenchmarkCachedRowHit is a hot read's work in the reader: the row of a
// payload the cache answers.
func BenchmarkCachedRowHit(b *testing.B) {
	from := time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
	var windows []release.Window
	for _, terr := range []string{"GB", "FR", "DE", "US", "JP"} {
		windows = append(windows,
			release.Window{Territory: terr, Usage: release.UsageDownload, From: &from, Price: &release.Price{Amount: "0.99", Currency: "GBP", Code: "B2"}},
			release.Window{Territory: terr, Usage: release.UsageSubscription, From: &from})
	}
	row := trackdetails.TrackRow{Generation: 4, Version: 9, Terms: trackdetails.Compact(windows), Track: catalogue.Track{
		ID: 7, ISRC: "GBAAA0000001", Title: "A title", Artist: catalogue.Artist{ID: 3, Name: "An artist"}, DurationSeconds: 61,
		Disc: 1, Number: 2, PLine: "(P) 2024 A label",
		Release: catalogue.Release{ID: 5, UPC: "0123456789012", Title: "A release", Label: "A label", Sequence: 9},
	}}
	payload, err := json.Marshal(row)
	if err != nil {
		b.Fatal(err)
	}
	entry := &oneEntry{payload: payload}
	r, _ := trackdetails.NewCachedReader(&rowSource{row: row}, entry, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if _, err := r.Row(ctx, 7); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		// A fresh copy, as the cache answers each read.
		entry.payload = append(entry.payload[:0:0], payload...)
		if _, err := r.Row(ctx, 7); err != nil {
			b.Fatal(err)
		}
	}
}

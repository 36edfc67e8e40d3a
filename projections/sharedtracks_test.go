package projections_test

import (
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
)

// legacyShared are the events of a log written when track ids were one per
// ISRC: an album (release 1) and a compilation (release 2) both carry
// track 11, delivered to different partitions.
func legacyShared() (album, comp release.Delivered) {
	start := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	deals := []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"PermanentDownload"}, CommercialModels: []string{"PayAsYouGoModel"}, Start: &start}}
	album = release.Delivered{ReleaseID: 1, Metadata: release.Metadata{UPC: "00724349501058", Title: "Come Down", Artist: "Band"}, ArtistID: 5,
		Tracks: []release.TrackInfo{
			{TrackID: 11, ISRC: "USCA29600191", Title: "I Love You", Artist: "Band", ArtistID: 5, DurationSeconds: 252, Disc: 1, Number: 1},
			{TrackID: 12, ISRC: "USCA29600192", Title: "Minnesoter", Artist: "Band", ArtistID: 5, DurationSeconds: 200, Disc: 1, Number: 2},
		}, Deals: deals}
	comp = release.Delivered{ReleaseID: 2, Metadata: release.Metadata{UPC: "5012345678900", Title: "Best of", Artist: "Various"}, ArtistID: 6,
		Tracks: []release.TrackInfo{
			{TrackID: 21, ISRC: "GBAAA9600001", Title: "Other", Artist: "Other", ArtistID: 7, DurationSeconds: 180, Disc: 1, Number: 1},
			{TrackID: 11, ISRC: "USCA29600191", Title: "I Love You", Artist: "Band", ArtistID: 5, DurationSeconds: 252, Disc: 1, Number: 2},
		}, Deals: deals}
	return album, comp
}

func item(topic string, partition int32, offset, seq int64, key string, ev events.Payload) projections.Item {
	c := projections.Change{Sequence: seq, Event: ev}
	return projections.Item{Record: events.Record{Topic: topic, Partition: partition, Offset: offset, Key: []byte(key), Value: []byte(`{}`),
		Headers: map[string]string{}}, Key: key, Change: &c}
}

// TestLegacySharedTrackIDInOneBatch: an album and a compilation that a
// legacy log gave one track id applied in one batch (the batch once failed
// with SQLSTATE 21000 forever), and in the other order in two batches, give
// the same read model: each release keeps its copy in its tracklist, and
// track/details of the shared id answers from the lower release id.
func TestLegacySharedTrackIDInOneBatch(t *testing.T) {
	t.Parallel()
	album, comp := legacyShared()
	oneBatch, twoBatches := newProjectionFixture(t), newProjectionFixture(t)

	w := oneBatch.store.Writer(oneBatch.live.Number)
	if _, err := w.Apply(oneBatch.ctx, projections.Checkpoint{Topic: oneBatch.topic, Partition: 0, NextOffset: 2}, []projections.Item{
		item(oneBatch.topic, 0, 0, 1, album.UPC, album), item(oneBatch.topic, 0, 1, 1, comp.UPC, comp),
	}); err != nil {
		t.Fatalf("album and compilation in one batch: %v", err)
	}
	w2 := twoBatches.store.Writer(twoBatches.live.Number)
	if _, err := w2.Apply(twoBatches.ctx, projections.Checkpoint{Topic: twoBatches.topic, Partition: 1, NextOffset: 1},
		[]projections.Item{item(twoBatches.topic, 1, 0, 1, comp.UPC, comp)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Apply(twoBatches.ctx, projections.Checkpoint{Topic: twoBatches.topic, Partition: 0, NextOffset: 1},
		[]projections.Item{item(twoBatches.topic, 0, 0, 1, album.UPC, album)}); err != nil {
		t.Fatal(err)
	}
	h1, err := oneBatch.store.Hash(oneBatch.ctx, oneBatch.live.Number)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := twoBatches.store.Hash(twoBatches.ctx, twoBatches.live.Number)
	if err != nil {
		t.Fatal(err)
	}
	if h1 != h2 {
		t.Errorf("read model depends on the order of partitions: %s vs %s", h1, h2)
	}

	for _, f := range []projectionFixture{oneBatch, twoBatches} {
		now := time.Now()
		tr, err := f.store.Track(f.ctx, 11, "GB", now)
		if err != nil || tr.Release.ID != 1 || tr.Download == nil {
			t.Errorf("track 11 = release %d, %+v, %v; want the album (release 1), on sale", tr.Release.ID, tr.Download, err)
		}
		ts, err := f.store.TracksByUPC(f.ctx, comp.UPC, "GB", now)
		if err != nil || len(ts) != 2 || ts[1].ID != 11 || ts[1].Release.ID != 2 || ts[0].Release.ID != 2 {
			t.Errorf("compilation tracklist = %+v, %v; want its own two tracks", ts, err)
		}
		ts, err = f.store.TracksByUPC(f.ctx, album.UPC, "GB", now)
		if err != nil || len(ts) != 2 || ts[0].ID != 11 || ts[0].Release.ID != 1 {
			t.Errorf("album tracklist = %+v, %v; want its own two tracks", ts, err)
		}
	}

	// The album drops the recording: the shared id now answers from the
	// compilation; the compilation's purge then leaves it unknown.
	f := oneBatch
	dropped := release.TracksChanged{ReleaseID: 1, Removed: []string{"USCA29600191"}, Tracks: album.Tracks[1:]}
	if _, err := w.Apply(f.ctx, projections.Checkpoint{Topic: f.topic, Partition: 0, NextOffset: 3},
		[]projections.Item{item(f.topic, 0, 2, 2, album.UPC, dropped)}); err != nil {
		t.Fatal(err)
	}
	if tr, err := f.store.Track(f.ctx, 11, "GB", time.Now()); err != nil || tr.Release.ID != 2 {
		t.Errorf("track 11 after the album dropped it = release %d, %v; want the compilation", tr.Release.ID, err)
	}
	if _, err := w.Apply(f.ctx, projections.Checkpoint{Topic: f.topic, Partition: 0, NextOffset: 4},
		[]projections.Item{item(f.topic, 0, 3, 2, comp.UPC, release.Purged{ReleaseID: 2, UPC: comp.UPC})}); err != nil {
		t.Fatal(err)
	}
	if tr, err := f.store.Track(f.ctx, 11, "GB", time.Now()); err == nil {
		t.Errorf("track 11 served after both releases let it go: %+v", tr)
	}
}

// TestTrackIDTwiceOnOneReleaseIsParked: an event naming one track id for
// two recordings of one release cannot be stored; it is parked and the rest
// of the batch is applied.
func TestTrackIDTwiceOnOneReleaseIsParked(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	album, comp := legacyShared()
	album.Tracks[1].TrackID = 11
	res, err := f.store.Writer(f.live.Number).Apply(f.ctx, projections.Checkpoint{Topic: f.topic, Partition: 0, NextOffset: 2},
		[]projections.Item{item(f.topic, 0, 0, 1, album.UPC, album), item(f.topic, 0, 1, 1, comp.UPC, comp)})
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if res.Parked != 1 || res.Applied != 1 {
		t.Errorf("parked %d, applied %d; want 1 and 1", res.Parked, res.Applied)
	}
	if tr, err := f.store.Track(f.ctx, 21, "GB", time.Now()); err != nil || tr.Release.ID != 2 {
		t.Errorf("the compilation after the parked album: %+v %v", tr, err)
	}
}

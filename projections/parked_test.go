package projections_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/testenv"
)

// TestPoisonEventIsParked: an event that cannot be decoded is parked, the
// later events of its release wait behind it, other releases keep flowing,
// and a retry after a fix applies the parked events in order.
func TestPoisonEventIsParked(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	ctx, kc, topic, store, live := f.ctx, f.kafka, f.topic, f.store, f.live

	delivered := func(id int64, upc, isrc string) release.Delivered {
		return release.Delivered{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: "First", Artist: "A"}, ArtistID: 1,
			Tracks: []release.TrackInfo{{TrackID: id * 10, ISRC: isrc, Title: "T", Artist: "A", ArtistID: 1, DurationSeconds: 100, Disc: 1, Number: 1}},
			Deals:  []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}}}}
	}
	renamed := func(id int64, upc, title string) release.MetadataChanged {
		return release.MetadataChanged{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: title, Artist: "A"}, ArtistID: 1}
	}
	x, y := "00724349501058", "5012345678900"
	x1 := mustEnvelope(t, release.TypeDelivered, 1, x, delivered(1, x, "GBAAA2000001"))
	poison := events.Envelope{ID: uuid.New(), Type: release.TypeMetadataChanged, SchemaVersion: 1, Source: "/catalog/ingest",
		Subject: x, Sequence: 2, Time: time.Now(), Data: json.RawMessage(`{"releaseId":"one","title":"Second"}`)}
	x3 := mustEnvelope(t, release.TypeMetadataChanged, 3, x, renamed(1, x, "Third"))
	y1 := mustEnvelope(t, release.TypeDelivered, 1, y, delivered(2, y, "GBAAA2000002"))
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: x1}, {Topic: topic, Envelope: poison}, {Topic: topic, Envelope: x3}, {Topic: topic, Envelope: y1}}); err != nil {
		t.Fatal(err)
	}

	f.run(t)

	title := func(trackID int64) string {
		row, err := store.TrackRow(ctx, trackID)
		if err != nil {
			return err.Error()
		}
		return row.Track.Release.Title
	}
	// The other release flows; X stays at its first event.
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := title(20); got != "First" {
			return errorf("release Y: %q", got)
		}
		return nil
	})
	var parked []projectionpg.Parked
	testenv.Eventually(t, 10*time.Second, func() error {
		var err error
		if parked, err = store.ListParked(ctx); err != nil {
			return err
		}
		if len(parked) != 2 {
			return errorf("%d parked", len(parked))
		}
		return nil
	})
	// X and Y may be on different partitions: X is judged once its poison
	// and the event behind it are parked.
	if got := title(10); got != "First" {
		t.Fatalf("release X: %q, want it held at its first event", got)
	}
	head, behind := parked[0], parked[1]
	if head.Key != x || !strings.Contains(head.Reason, "releaseId") || head.Behind != nil || head.Type != release.TypeMetadataChanged {
		t.Errorf("head of the queue: %+v", head)
	}
	if behind.Key != x || behind.Behind == nil || *behind.Behind != head.ID || behind.Offset <= head.Offset {
		t.Errorf("behind it: %+v", behind)
	}
	if n, err := store.CountParked(ctx); err != nil || n[live.Number] != 2 {
		t.Errorf("parked count %v %v", n, err)
	}

	// Retrying without a fix parks them again, in the same order.
	if _, err := store.Retry(ctx, head.ID); err != nil {
		t.Fatal(err)
	}
	if again, _ := store.ListParked(ctx); len(again) != 2 || again[0].Offset != head.Offset {
		t.Fatalf("after a retry without a fix: %+v", again)
	}
	// The fix: the event repaired; retry applies it and the one behind it.
	again, _ := store.ListParked(ctx)
	if err := store.ReplacePayload(ctx, again[0].ID, []byte(`{"releaseId":1,"upc":"00724349501058","title":"Second","artist":"A","artistId":1}`)); err != nil {
		t.Fatal(err)
	}
	n, err := store.Retry(ctx, again[0].ID)
	if err != nil || n != 2 {
		t.Fatalf("retry after the fix: %d applied, %v", n, err)
	}
	if got := title(10); got != "Third" {
		t.Fatalf("release X after the retry: %q, want Third (applied in order)", got)
	}
	if left, _ := store.ListParked(ctx); len(left) != 0 {
		t.Fatalf("still parked: %+v", left)
	}
	// Later events of X flow normally again.
	x4 := mustEnvelope(t, release.TypeMetadataChanged, 4, x, renamed(1, x, "Fourth"))
	if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: x4}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := title(10); got != "Fourth" {
			return errorf("release X: %q", got)
		}
		return nil
	})
}

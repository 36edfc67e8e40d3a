package projections_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// onePartition points the fixture at a topic of its own with one
// partition, so every event of a test follows the others in one partition.
func onePartition(t *testing.T, f projectionFixture) projectionFixture {
	t.Helper()
	f.topic += "-p1"
	if err := f.admin.EnsureTopics(f.ctx, []events.TopicSpec{{Name: f.topic, Partitions: 1, ReplicationFactor: 1}}, f.log); err != nil {
		t.Fatal(err)
	}
	return f
}

func poisonDelivered(id int64, upc, title string) release.Delivered {
	return release.Delivered{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: title, Artist: "A"}, ArtistID: 1,
		Tracks: []release.TrackInfo{{TrackID: id * 10, ISRC: fmt.Sprintf("GBAAA20%05d", id), Title: "T", Artist: "A", ArtistID: 1, DurationSeconds: 100, Disc: 1, Number: 1}},
		Deals:  []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}}}}
}

func poisonRenamed(id int64, upc, title string) release.MetadataChanged {
	return release.MetadataChanged{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: title, Artist: "A"}, ArtistID: 1}
}

func trackTitle(f projectionFixture, trackID int64) string {
	row, err := f.store.TrackRow(f.ctx, trackID)
	if err != nil {
		return err.Error()
	}
	return row.Track.Release.Title
}

// checkpointCounts returns the events the live generation counts as
// applied and as stale, and its next offset, in the fixture's topic.
func checkpointCounts(t *testing.T, f projectionFixture) (applied, stale, next int64) {
	t.Helper()
	err := f.pool.QueryRow(f.ctx, `select coalesce(sum(applied), 0), coalesce(sum(stale), 0), coalesce(max(next_offset), 0)
		from projection_checkpoints where generation = $1 and topic = $2`, f.live.Number, f.topic).Scan(&applied, &stale, &next)
	if err != nil {
		t.Fatal(err)
	}
	return applied, stale, next
}

// TestApplyErrorThatRepeatsIsParked: an event that decodes but that
// Postgres rejects every time (a track title with a NUL character, which
// a text column cannot hold) is parked with the error as its reason, with the
// later event of its release behind it; the events of other releases
// after it on the same partition become visible, each applied once, and
// the parked events are resolvable as any other.
func TestApplyErrorThatRepeatsIsParked(t *testing.T) {
	t.Parallel()
	f := onePartition(t, newProjectionFixture(t))
	x, y, z := "00724349501058", "5012345678900", "5099750442227"
	// A later event of the release in the same batch does not hide it: the
	// track is written with the release's final state.
	bad := poisonDelivered(1, x, "X one")
	bad.Tracks[0].Title = "T \x00"
	prod, err := events.NewProducer(f.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	send := func(envs ...events.Envelope) {
		t.Helper()
		out := make([]events.Outgoing, len(envs))
		for i, e := range envs {
			out[i] = events.Outgoing{Topic: f.topic, Envelope: e}
		}
		if _, err := prod.Send(out); err != nil {
			t.Fatal(err)
		}
	}
	send(
		mustEnvelope(t, release.TypeDelivered, 1, y, poisonDelivered(2, y, "Y one")),
		mustEnvelope(t, release.TypeDelivered, 1, x, bad),
		mustEnvelope(t, release.TypeMetadataChanged, 2, y, poisonRenamed(2, y, "Y two")),
		mustEnvelope(t, release.TypeMetadataChanged, 2, x, poisonRenamed(1, x, "X two")),
		mustEnvelope(t, release.TypeDelivered, 1, z, poisonDelivered(3, z, "Z one")),
	)
	f.run(t)

	testenv.Eventually(t, 30*time.Second, func() error {
		if got := trackTitle(f, 20); got != "Y two" {
			return errorf("release Y: %q", got)
		}
		if got := trackTitle(f, 30); got != "Z one" {
			return errorf("release Z: %q", got)
		}
		return nil
	})
	parked, err := f.store.ListParked(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 {
		t.Fatalf("parked: %+v", parked)
	}
	head, behind := parked[0], parked[1]
	if head.Key != x || head.Offset != 1 || head.Behind != nil || !strings.Contains(head.Reason, "failed twice") || !strings.Contains(head.Reason, "22021") {
		t.Errorf("head of the queue: %+v", head)
	}
	if behind.Key != x || behind.Offset != 3 || behind.Behind == nil || *behind.Behind != head.ID {
		t.Errorf("behind it: %+v", behind)
	}
	if _, err := f.store.TrackRow(f.ctx, 10); !errors.Is(err, catalogue.ErrTrackNotFound) {
		t.Errorf("release X's track: %v, want it not found", err)
	}
	// Nothing lost, nothing applied twice: Y's two events and Z's one.
	if applied, stale, next := checkpointCounts(t, f); applied != 3 || stale != 0 || next != 5 {
		t.Errorf("checkpoint: applied %d, stale %d, next offset %d; want 3, 0, 5", applied, stale, next)
	}

	// The fix: the event repaired; retry applies it and the one behind it.
	fixed := poisonDelivered(1, x, "X one")
	payload := mustEnvelope(t, release.TypeDelivered, 1, x, fixed).Data
	if err := f.store.ReplacePayload(f.ctx, head.ID, payload); err != nil {
		t.Fatal(err)
	}
	if n, err := f.store.Retry(f.ctx, head.ID); err != nil || n != 2 {
		t.Fatalf("retry after the fix: %d applied, %v", n, err)
	}
	if got := trackTitle(f, 10); got != "X two" {
		t.Errorf("release X after the retry: %q", got)
	}
}

// TestTransientApplyErrorIsRetried: the projector's Postgres connection is
// terminated three times while a batch waits for a lock (the same error
// each time); the batch is retried, not split or parked, and is applied
// once, when the lock is gone.
func TestTransientApplyErrorIsRetried(t *testing.T) {
	t.Parallel()
	f := onePartition(t, newProjectionFixture(t))
	x, y := "00724349501058", "5012345678900"
	prod, err := events.NewProducer(f.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := prod.Send([]events.Outgoing{{Topic: f.topic, Envelope: mustEnvelope(t, release.TypeDelivered, 1, x, poisonDelivered(1, x, "X one"))}}); err != nil {
		t.Fatal(err)
	}
	f.run(t)
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := trackTitle(f, 10); got != "X one" {
			return errorf("release X: %q", got)
		}
		return nil
	})

	// A lock that makes the next batch wait.
	lockTx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lockTx.Rollback(context.Background())
	if _, err := lockTx.Exec(f.ctx, fmt.Sprintf(`lock table td_g%d.releases in exclusive mode`, f.live.Number)); err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Send([]events.Outgoing{
		{Topic: f.topic, Envelope: mustEnvelope(t, release.TypeMetadataChanged, 2, x, poisonRenamed(1, x, "X two"))},
		{Topic: f.topic, Envelope: mustEnvelope(t, release.TypeDelivered, 1, y, poisonDelivered(2, y, "Y one"))},
	}); err != nil {
		t.Fatal(err)
	}
	// Three times the same error: enough for an error taken as deterministic
	// to split the batch and park an event.
	killed := []int32{}
	for range 3 {
		var pid int32
		testenv.Eventually(t, 30*time.Second, func() error {
			return f.pool.QueryRow(f.ctx, `select pid from pg_stat_activity where datname = current_database()
				and wait_event_type = 'Lock' and pid <> pg_backend_pid() and pid <> all($1) limit 1`, killed).Scan(&pid)
		})
		var ok bool
		if err := f.pool.QueryRow(f.ctx, `select pg_terminate_backend($1)`, pid).Scan(&ok); err != nil || !ok {
			t.Fatalf("terminate %d: %v %v", pid, ok, err)
		}
		killed = append(killed, pid)
	}
	if err := lockTx.Rollback(f.ctx); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		if got := trackTitle(f, 10); got != "X two" {
			return errorf("release X: %q", got)
		}
		if got := trackTitle(f, 20); got != "Y one" {
			return errorf("release Y: %q", got)
		}
		return nil
	})
	if parked, err := f.store.ListParked(f.ctx); err != nil || len(parked) != 0 {
		t.Errorf("parked after a transient fault: %+v %v", parked, err)
	}
	if applied, stale, next := checkpointCounts(t, f); applied != 3 || stale != 0 || next != 3 {
		t.Errorf("checkpoint: applied %d, stale %d, next offset %d; want 3, 0, 3", applied, stale, next)
	}
}

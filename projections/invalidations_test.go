package projections_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/trackdetails"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

// cacheFixture is a test's own database (migrated, with a live
// generation) and its own Redis server, with the projection, the
// invalidation sender and the API's cached reader on them.
type cacheFixture struct {
	ctx    context.Context
	log    *slog.Logger
	store  *trackdetailspg.Store
	live   projectionpg.Generation
	redis  *testenv.Redis
	cache  *projectionredis.Cache
	reader *trackdetails.CachedReader
}

func newCacheFixture(t *testing.T) cacheFixture {
	t.Helper()
	f := cacheFixture{ctx: context.Background(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	pool := testenv.Postgres(t)
	if err := projectionpg.Migrate(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	f.store, _ = trackdetailspg.New(pool)
	var err error
	if f.live, err = f.store.EnsureLive(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.redis = testenv.StartRedis(t, testenv.FreeAddr(t), t.TempDir())
	// The default 50 ms timeout: a paused Redis fails the calls quickly.
	if f.cache, err = projectionredis.New(projectionredis.Config{Addr: f.redis.Addr}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.cache.Close() })
	if f.reader, err = trackdetails.NewCachedReader(f.store, f.cache, f.log); err != nil {
		t.Fatal(err)
	}
	return f
}

// sender starts an invalidation sender and its retry loop, as a projector
// process does, until stop is called or the test ends.
func (f cacheFixture) sender(t *testing.T) (inv *projections.Invalidations, stop func()) {
	t.Helper()
	inv, err := projections.NewInvalidations(f.store, f.cache, f.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- inv.Run(ctx) }()
	stop = func() { cancel(); <-done }
	t.Cleanup(func() { cancel() })
	return inv, stop
}

// record is ev as the projector consumes it from partition 0 at offset.
func record(t *testing.T, offset int64, subject string, ev any) events.Record {
	t.Helper()
	var typ string
	switch ev.(type) {
	case release.Delivered:
		typ = release.TypeDelivered
	case release.MetadataChanged:
		typ = release.TypeMetadataChanged
	}
	env := mustEnvelope(t, typ, offset+1, subject, ev)
	return events.Record{Topic: "releases", Partition: 0, Offset: offset, Key: []byte(subject), Value: env.Data, Headers: env.Headers()}
}

const cacheUPC = "5012345678900"

func delivered(title string) release.Delivered {
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	return release.Delivered{
		ReleaseID: 5, Metadata: release.Metadata{UPC: cacheUPC, Title: title, Artist: "Band"}, ArtistID: 9,
		Tracks: []release.TrackInfo{
			{TrackID: 51, ISRC: "GBAAA2000051", Title: "One", Artist: "Band", ArtistID: 9, DurationSeconds: 100, Disc: 1, Number: 1},
			{TrackID: 52, ISRC: "GBAAA2000052", Title: "Two", Artist: "Band", ArtistID: 9, DurationSeconds: 100, Disc: 1, Number: 2},
		},
		Deals: []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"Stream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start}},
	}
}

func renamed(title string) release.MetadataChanged {
	return release.MetadataChanged{ReleaseID: 5, Metadata: release.Metadata{UPC: cacheUPC, Title: title, Artist: "Band"}, ArtistID: 9}
}

// cached returns the release title of track's cached entry, "" when none.
func (f cacheFixture) cached(t *testing.T, track int64) string {
	t.Helper()
	_, rv, ok, err := f.cache.Get(f.ctx, int64(f.live.Number), track)
	if err != nil {
		t.Fatalf("cache get: %v", err)
	}
	if !ok {
		return ""
	}
	row, err := f.reader.Row(f.ctx, track) // a hit: the cached row
	if err != nil {
		t.Fatal(err)
	}
	if rv.Version != row.Version {
		t.Fatalf("entry at %+v, row read at %d", rv, row.Version)
	}
	return row.Track.Release.Title
}

// served is the release title the API's reader answers for track.
func (f cacheFixture) served(t *testing.T, track int64) string {
	t.Helper()
	row, err := f.reader.Row(f.ctx, track)
	if err != nil {
		t.Fatal(err)
	}
	return row.Track.Release.Title
}

// fillV1 delivers v1 and has the reader fill both tracks' entries.
func (f cacheFixture) fillV1(t *testing.T, proj *projections.Handler) {
	t.Helper()
	if err := proj.HandleBatch(f.ctx, events.Batch{Topic: "releases", Records: []events.Record{record(t, 0, cacheUPC, delivered("v1"))}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, id := range []int64{51, 52} {
			f.served(t, id)
			if got := f.cached(t, id); got != "v1" {
				return fmt.Errorf("track %d cached as %q", id, got)
			}
		}
		return nil
	})
}

func (f cacheFixture) backlog(t *testing.T) int64 {
	t.Helper()
	n, _, _, err := f.store.InvalidationBacklog(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInvalidationOutlivesARedisWritePause: the invalidation after a commit
// times out while Redis refuses writes (CLIENT PAUSE WRITE); readers get
// the old entry only until Redis accepts writes again, when the retry
// replaces it, not until its one-hour TTL.
func TestInvalidationOutlivesARedisWritePause(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	inv, _ := f.sender(t)
	proj, err := projections.NewHandler(f.store.Writer(f.live.Number), inv, f.log)
	if err != nil {
		t.Fatal(err)
	}
	f.fillV1(t, proj)

	f.redis.Do(t, "CLIENT", "PAUSE", "1500", "WRITE")
	if err := proj.HandleBatch(f.ctx, events.Batch{Topic: "releases", Records: []events.Record{record(t, 1, cacheUPC, renamed("v2"))}}); err != nil {
		t.Fatal(err)
	}
	// The bound that remains: while Redis refuses writes, the old entry is
	// still read; the invalidation waits in Postgres.
	if got := f.cached(t, 51); got != "v1" {
		t.Fatalf("during the pause track 51 is cached as %q; the test wants the invalidation to have failed", got)
	}
	if _, failed := inv.Stats(); failed == 0 {
		t.Fatal("no invalidation failed during the pause")
	}
	if n := f.backlog(t); n != 1 {
		t.Fatalf("%d invalidations stored during the pause, want 1", n)
	}
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, id := range []int64{51, 52} {
			if got := f.served(t, id); got != "v2" {
				return fmt.Errorf("track %d served as %q after the pause", id, got)
			}
		}
		if n := f.backlog(t); n != 0 {
			return fmt.Errorf("%d invalidations still stored", n)
		}
		return nil
	})
}

// TestStoredInvalidationsAreSentByTheNextProcess: a projector that dies
// between its commit and the invalidation (here: the batch is applied and
// the process state abandoned before anything is sent) leaves the
// invalidation in Postgres; the next process's retry loop sends it at
// start-up.
func TestStoredInvalidationsAreSentByTheNextProcess(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	first, stop := f.sender(t)
	proj, err := projections.NewHandler(f.store.Writer(f.live.Number), first, f.log)
	if err != nil {
		t.Fatal(err)
	}
	f.fillV1(t, proj)
	stop()

	// The commit happens; the process is gone before it sends anything.
	c := projections.Change{Sequence: 2, Event: renamed("v2")}
	res, err := f.store.Writer(f.live.Number).Apply(f.ctx, projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: 2},
		[]projections.Item{{Record: events.Record{Topic: "releases", Offset: 1, Key: []byte(cacheUPC)}, Key: cacheUPC, Change: &c}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pending == nil || len(res.Pending.Tracks) != 2 || res.Pending.Tracks[51] != (projections.ReleaseVersion{Release: 5, Version: 2}) {
		t.Fatalf("the live generation's batch stored %+v, want tracks 51 and 52 at release 5 v2", res.Pending)
	}
	if got := f.cached(t, 51); got != "v1" {
		t.Fatalf("before the next process track 51 is cached as %q", got)
	}
	if n := f.backlog(t); n != 1 {
		t.Fatalf("%d invalidations stored, want 1", n)
	}

	f.sender(t) // the next process
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := f.backlog(t); n != 0 {
			return fmt.Errorf("%d invalidations still stored", n)
		}
		for _, id := range []int64{51, 52} {
			if got := f.served(t, id); got != "v2" {
				return fmt.Errorf("track %d served as %q", id, got)
			}
		}
		return nil
	})
}

// TestOnlyTheLiveGenerationOwesInvalidations: a generation being rebuilt is
// not served, so its batches store no invalidation (a rebuild would
// otherwise write a tombstone per track); once swapped in, they do.
func TestOnlyTheLiveGenerationOwesInvalidations(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	shadow, err := f.store.StartRebuild(f.ctx, false, projections.Target{})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(gen int, offset int64, ev events.Payload) projections.ApplyResult {
		t.Helper()
		c := projections.Change{Sequence: offset + 1, Event: ev}
		res, err := f.store.Writer(gen).Apply(f.ctx, projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: offset + 1},
			[]projections.Item{{Record: events.Record{Topic: "releases", Offset: offset, Key: []byte(cacheUPC)}, Key: cacheUPC, Change: &c}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := apply(shadow.Number, 0, delivered("v1")); res.Pending != nil || len(res.Changed) != 2 {
		t.Fatalf("a shadow generation's batch: pending %+v, changed %v", res.Pending, res.Changed)
	}
	if res := apply(f.live.Number, 0, delivered("v1")); res.Pending == nil {
		t.Fatal("the live generation's batch stored no invalidation")
	}
	if err := f.store.BuildIndexes(f.ctx, shadow.Number); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Swap(f.ctx, shadow.Number); err != nil {
		t.Fatal(err)
	}
	if res := apply(shadow.Number, 1, renamed("v2")); res.Pending == nil || res.Pending.Generation != int64(shadow.Number) {
		t.Fatalf("the swapped-in generation's batch stored %+v", res.Pending)
	}
	if n := f.backlog(t); n != 2 {
		t.Fatalf("%d invalidations stored, want 2", n)
	}
	got, err := f.store.PendingInvalidations(f.ctx, 10)
	if err != nil || len(got) != 2 || got[0].Generation != int64(f.live.Number) || got[1].Generation != int64(shadow.Number) {
		t.Fatalf("pending: %+v %v", got, err)
	}
	for _, inv := range got {
		if err := f.store.DeleteInvalidation(f.ctx, inv.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.backlog(t); n != 0 {
		t.Fatalf("%d invalidations stored after deleting them", n)
	}
}

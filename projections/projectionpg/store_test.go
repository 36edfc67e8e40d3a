package projectionpg_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

// countsModel is a second, minimal projection on the shared machinery: a
// table counting each release's events, in schema cnt_g<N>.
type countsModel struct{}

func (countsModel) Schema(gen int) string { return fmt.Sprintf("cnt_g%d", gen) }
func (m countsModel) Create(ctx context.Context, tx pgx.Tx, gen int, _ bool) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`create schema %[1]s; create table %[1]s.counts (release_id bigint primary key, n bigint not null)`, m.Schema(gen)))
	return err
}
func (countsModel) BuildIndexes(context.Context, pgx.Tx, int) error { return nil }
func (countsModel) Expose(context.Context, pgx.Tx, int) error       { return nil }
func (countsModel) Validate(c projections.Change) string {
	if c.Event.(release.Payload).Release() == 13 {
		return "release 13 is refused by this model"
	}
	return ""
}
func (m countsModel) Apply(ctx context.Context, tx pgx.Tx, gen int, changes []projections.Change) (projections.ApplyResult, error) {
	var res projections.ApplyResult
	for _, c := range changes {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`insert into %s.counts values ($1, 1) on conflict (release_id) do update set n = counts.n + 1`, m.Schema(gen)),
			c.Event.(release.Payload).Release()); err != nil {
			return res, err
		}
		res.Applied++
	}
	return res, nil
}

// twoProjections gives a migrated database of its own with two projections
// on it: track-details and the counting model.
func twoProjections(t *testing.T) (*pgxpool.Pool, *trackdetailspg.Store, *projectionpg.Store) {
	t.Helper()
	pool := testenv.Postgres(t)
	if err := projectionpg.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	td, err := trackdetailspg.New(pool)
	if err != nil {
		t.Fatal(err)
	}
	counts, err := projectionpg.NewStore(pool, "counts", countsModel{})
	if err != nil {
		t.Fatal(err)
	}
	return pool, td, counts
}

// TestProjectionsAreKeyedByName runs a second projection beside
// track-details on the same database: each has its own generations,
// checkpoints, parked events and rebuild, and a rebuild of one neither
// blocks nor shows in the other.
func TestProjectionsAreKeyedByName(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, td, counts := twoProjections(t)
	tdLive, err := td.EnsureLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cLive, err := counts.EnsureLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cLive.Number != 1 || tdLive.Number != 1 {
		t.Fatalf("first generations: counts %d, track-details %d", cLive.Number, tdLive.Number)
	}

	items := []projections.Item{
		{Record: events.Record{Topic: "releases", Offset: 0, Key: []byte("a"), Value: []byte(`{}`)}, Key: "a", Change: &projections.Change{Sequence: 1, Event: release.Purged{ReleaseID: 12}}},
		{Record: events.Record{Topic: "releases", Offset: 1, Key: []byte("b"), Value: []byte(`{}`)}, Key: "b", Change: &projections.Change{Sequence: 1, Event: release.Purged{ReleaseID: 13}}},
		{Record: events.Record{Topic: "releases", Offset: 2, Key: []byte("a"), Value: []byte(`{}`)}, Key: "a", Change: &projections.Change{Sequence: 2, Event: release.Purged{ReleaseID: 12}}},
	}
	res, err := counts.Writer(cLive.Number).Apply(ctx, projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: 3}, items)
	if err != nil || res.Applied != 2 || res.Parked != 1 {
		t.Fatalf("counts apply: %+v %v", res, err)
	}
	var n int64
	if err := pool.QueryRow(ctx, `select n from cnt_g1.counts where release_id = 12`).Scan(&n); err != nil || n != 2 {
		t.Errorf("counts of release 12 = %d %v", n, err)
	}
	if cps, err := counts.Checkpoints(ctx, cLive.Number); err != nil || len(cps) != 1 || cps[0].Next != 3 {
		t.Errorf("counts checkpoints: %+v %v", cps, err)
	}
	if cps, err := td.Checkpoints(ctx, tdLive.Number); err != nil || len(cps) != 0 {
		t.Errorf("track-details checkpoints after counts' batch: %+v %v", cps, err)
	}
	if p, err := counts.ListParked(ctx); err != nil || len(p) != 1 || p[0].Key != "b" {
		t.Errorf("counts parked: %+v %v", p, err)
	}
	if p, err := td.ListParked(ctx); err != nil || len(p) != 0 {
		t.Errorf("track-details parked: %+v %v", p, err)
	}

	// A rebuild of counts leaves track-details free to rebuild too.
	cNext, err := counts.StartRebuild(ctx, false, projections.Target{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := counts.StartRebuild(ctx, false, projections.Target{}); !errors.Is(err, projections.ErrRebuildRunning) {
		t.Errorf("second counts rebuild: %v", err)
	}
	if _, _, err := td.Rebuilding(ctx); !errors.Is(err, projections.ErrNoRebuild) {
		t.Errorf("track-details sees a rebuild: %v", err)
	}
	tdNext, err := td.StartRebuild(ctx, false, projections.Target{})
	if err != nil {
		t.Fatalf("track-details rebuild beside counts': %v", err)
	}
	if _, err := counts.Swap(ctx, cNext.Number); !errors.Is(err, projections.ErrBehindLive) {
		t.Errorf("swap of an empty counts generation: %v", err)
	}
	if _, err := counts.Writer(cNext.Number).Apply(ctx, projections.Checkpoint{Topic: "releases", Partition: 0, NextOffset: 3}, items); err != nil {
		t.Fatal(err)
	}
	if _, err := counts.Swap(ctx, cNext.Number); err != nil {
		t.Fatal(err)
	}
	if g, err := td.EnsureLive(ctx); err != nil || g.Number != tdLive.Number {
		t.Errorf("track-details live after counts' swap: %+v %v", g, err)
	}
	if g, err := counts.EnsureLive(ctx); err != nil || g.Number != cNext.Number {
		t.Errorf("counts live after its swap: %+v %v", g, err)
	}
	if _, err := td.Abandon(ctx); err != nil {
		t.Errorf("abandon track-details generation %d: %v", tdNext.Number, err)
	}
}

// TestEnsureLiveDuringAnInPlaceRebuild: while an in-place rebuild holds the
// live generation paused (between its start and its reset), a projector
// that starts, or anything else asking for the live generation, gets that
// generation, not a new empty one made live in its place; the reset then
// hands it back to the projectors.
func TestEnsureLiveDuringAnInPlaceRebuild(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, _, counts := twoProjections(t)
	live, err := counts.EnsureLive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g, err := counts.StartRebuild(ctx, true, projections.Target{})
	if err != nil || g.Number != live.Number || g.State != "paused" {
		t.Fatalf("in-place rebuild: %+v %v", g, err)
	}
	during, err := counts.EnsureLive(ctx)
	if err != nil || during.Number != live.Number || during.State != "paused" {
		t.Errorf("live generation during the in-place rebuild: %+v %v, want generation %d paused", during, err, live.Number)
	}
	var n int
	if err := pool.QueryRow(ctx, `select count(*) from projection_generations where projection = 'counts'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("generations of counts: %d %v, want 1", n, err)
	}
	if err := counts.ResetInPlace(ctx, g.Number); err != nil {
		t.Fatalf("reset in place: %v", err)
	}
	if after, err := counts.EnsureLive(ctx); err != nil || after.Number != live.Number || after.State != "live" {
		t.Errorf("live generation after the reset: %+v %v", after, err)
	}
}

package projectionpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/projections"
)

// Invalidation is a stored cache invalidation (projections.Invalidation).
type Invalidation = projections.Invalidation

// isLive reports whether the writer's generation is the live one, and
// holds a share lock on its row until the transaction ends: Swap, which
// updates that row, waits for the batch, and a batch that starts after a
// swap sees the new state. Only the live generation is served, so only its
// batches owe cache invalidations; a generation being rebuilt skips them
// (a rebuild's million tombstones), and is swapped in only between batches.
func (w *Writer) isLive(ctx context.Context, tx pgx.Tx) (bool, error) {
	var state string
	err := tx.QueryRow(ctx, `select state from projection_generations where projection = $1 and generation = $2 for share`, w.name, w.gen).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("generation %d state: %w", w.gen, err)
	}
	return state == "live", nil
}

// storeInvalidation writes the batch's invalidation in its transaction.
func (w *Writer) storeInvalidation(ctx context.Context, tx pgx.Tx, changed map[int64]projections.ReleaseVersion) (*Invalidation, error) {
	tracks := make([]int64, 0, len(changed))
	releases := make([]int64, 0, len(changed))
	versions := make([]int64, 0, len(changed))
	for t, rv := range changed {
		tracks, releases, versions = append(tracks, t), append(releases, rv.Release), append(versions, rv.Version)
	}
	inv := &Invalidation{Generation: int64(w.gen), Tracks: changed}
	err := tx.QueryRow(ctx, `insert into projection_invalidations (projection, generation, tracks, releases, versions)
		values ($1, $2, $3, $4, $5) returning id, created_at`, w.name, w.gen, tracks, releases, versions).Scan(&inv.ID, &inv.Stored)
	if err != nil {
		return nil, fmt.Errorf("store cache invalidation: %w", err)
	}
	return inv, nil
}

// PendingInvalidations implements projections.InvalidationStore.
func (s *Store) PendingInvalidations(ctx context.Context, limit int) ([]Invalidation, error) {
	rows, err := s.pool.Query(ctx, `select id, generation, tracks, releases, versions, created_at from projection_invalidations
		where projection = $1 order by id limit $2`, s.name, limit)
	if err != nil {
		return nil, fmt.Errorf("pending invalidations: %w", err)
	}
	var (
		out                        []Invalidation
		inv                        Invalidation
		tracks, releases, versions []int64
	)
	_, err = pgx.ForEachRow(rows, []any{&inv.ID, &inv.Generation, &tracks, &releases, &versions, &inv.Stored}, func() error {
		inv.Tracks = make(map[int64]projections.ReleaseVersion, len(tracks))
		for i, t := range tracks {
			inv.Tracks[t] = projections.ReleaseVersion{Release: releases[i], Version: versions[i]}
		}
		out = append(out, inv)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("pending invalidations: %w", err)
	}
	return out, nil
}

// DeleteInvalidation implements projections.InvalidationStore.
func (s *Store) DeleteInvalidation(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `delete from projection_invalidations where id = $1`, id); err != nil {
		return fmt.Errorf("delete invalidation %d: %w", id, err)
	}
	return nil
}

// InvalidationBacklog returns how many stored invalidations (batches) are
// waiting for the cache, how many track entries they name, and when the
// oldest was stored (zero when none waits).
func (s *Store) InvalidationBacklog(ctx context.Context) (batches, tracks int64, oldest time.Time, err error) {
	var at *time.Time
	err = s.pool.QueryRow(ctx, `select count(*), coalesce(sum(cardinality(tracks)), 0), min(created_at) from projection_invalidations
		where projection = $1`, s.name).Scan(&batches, &tracks, &at)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("invalidation backlog: %w", err)
	}
	if at != nil {
		oldest = *at
	}
	return batches, tracks, oldest, nil
}

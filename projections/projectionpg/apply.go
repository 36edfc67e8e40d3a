package projectionpg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/projections"
)

// Writer applies events to one generation of a read model. It
// implements projections.BatchStore and events.OffsetStore.
type Writer struct {
	pool  *pgxpool.Pool
	name  string
	model Model
	gen   int
}

// Writer returns the writer of generation gen.
func (s *Store) Writer(gen int) *Writer {
	return &Writer{pool: s.pool, name: s.name, model: s.model, gen: gen}
}

// Generation returns the generation the writer writes.
func (w *Writer) Generation() int { return w.gen }

// StoredOffsets implements events.OffsetStore.
func (w *Writer) StoredOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	rows, err := w.pool.Query(ctx, `select partition, next_offset from projection_checkpoints
		where projection = $1 and generation = $2 and topic = $3`, w.name, w.gen, topic)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	out := map[int32]int64{}
	var p int32
	var off int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &off}, func() error { out[p] = off; return nil }); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// Apply implements projections.BatchStore: it loads the rows of the
// batch's releases, folds the events into them in order (each guarded by
// the release's version), writes every changed release with one upsert
// per table, and stores the checkpoint and, for the live generation, the
// cache invalidation the batch owes (see invalidations.go), in one
// transaction. An error a retry can cure wraps projections.ErrTransient.
func (w *Writer) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (res projections.ApplyResult, err error) {
	defer func() { err = classify(err) }()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	// First, before any other lock: a swap waits for this batch, so a
	// generation swapped in has no batch in flight that skipped its
	// invalidations.
	live, err := w.isLive(ctx, tx)
	if err != nil {
		return res, err
	}

	res, err = w.applyIn(ctx, tx, items)
	if err != nil {
		return res, err
	}
	if live && len(res.Changed) > 0 {
		if res.Pending, err = w.storeInvalidation(ctx, tx, res.Changed); err != nil {
			return res, err
		}
	}
	_, err = tx.Exec(ctx, `
		insert into projection_checkpoints (projection, generation, topic, partition, next_offset, stale, applied)
		values ($1, $2, $3, $4, $5, $6, $7)
		on conflict (projection, generation, topic, partition) do update
		set next_offset = excluded.next_offset, stale = projection_checkpoints.stale + excluded.stale,
		    applied = projection_checkpoints.applied + excluded.applied, updated_at = now()`,
		w.name, w.gen, cp.Topic, cp.Partition, cp.NextOffset, res.Stale, res.Applied)
	if err != nil {
		return res, fmt.Errorf("store checkpoint: %w", err)
	}
	if err = tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// applyIn parks the items that cannot be applied (poison, invalid for the
// model, or behind a parked event of their stream) and has the model apply
// the others, in order, inside tx.
func (w *Writer) applyIn(ctx context.Context, tx pgx.Tx, items []projections.Item) (res projections.ApplyResult, err error) {
	keys := map[string]bool{}
	for _, it := range items {
		keys[it.Key] = true
	}
	parkedKeys, err := w.parkedKeys(ctx, tx, keys)
	if err != nil {
		return res, err
	}
	var parkedIDs = map[string]int64{}
	var changes []projections.Change
	parked := 0
	for _, it := range items {
		reason := it.Poison
		if reason == "" && parkedKeys[it.Key] {
			reason = "waiting behind an earlier parked event of this release"
		}
		if reason == "" && it.Change != nil {
			reason = w.model.Validate(*it.Change)
		}
		if reason != "" {
			id, err := w.park(ctx, tx, it, reason, parkedIDs[it.Key])
			if err != nil {
				return res, err
			}
			parkedKeys[it.Key], parkedIDs[it.Key] = true, id
			parked++
			continue
		}
		if it.Skip || it.Change == nil {
			continue
		}
		changes = append(changes, *it.Change)
	}
	res, err = w.model.Apply(ctx, tx, w.gen, changes)
	res.Parked += parked
	return res, err
}

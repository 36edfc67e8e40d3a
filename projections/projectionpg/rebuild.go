package projectionpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/projections"
)

// Sentinel errors of rebuilds (the projections package's).
var (
	ErrRebuildRunning = projections.ErrRebuildRunning
	ErrNoRebuild      = projections.ErrNoRebuild
	ErrBehindLive     = projections.ErrBehindLive
)

// Target is where a rebuild must reach before it can be swapped in.
type Target = projections.Target

// StartRebuild begins a rebuild. In shadow mode (zero downtime) it creates
// the next generation's tables, without secondary indexes, for projectors
// to fill from offset zero while the live generation keeps serving. In
// in-place mode it pauses the live generation so projectors stop feeding
// it; ResetInPlace then empties it. Only one rebuild runs at a time.
func (s *Store) StartRebuild(ctx context.Context, inPlace bool, target Target) (Generation, error) {
	var g Generation
	tj, err := json.Marshal(target)
	if err != nil {
		return g, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `select count(*) from projection_generations where projection = $1 and state in ('building', 'paused')`, s.name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrRebuildRunning
		}
		if inPlace {
			err := tx.QueryRow(ctx, `update projection_generations set state = 'paused', mode = 'in-place', target = $2
				where projection = $1 and state = 'live' returning generation, layout, state, mode`, s.name, tj).Scan(&g.Number, &g.Layout, &g.State, &g.Mode)
			if errors.Is(err, pgx.ErrNoRows) {
				return errors.New("no live generation to rebuild in place")
			}
			return err
		}
		if err := tx.QueryRow(ctx, `select coalesce(max(generation), 0) + 1 from projection_generations where projection = $1`, s.name).Scan(&g.Number); err != nil {
			return err
		}
		g.Layout, g.State, g.Mode = Layout, "building", "shadow"
		if err := s.model.Create(ctx, tx, g.Number, false); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `insert into projection_generations (projection, generation, layout, state, mode, target) values ($1, $2, $3, 'building', 'shadow', $4)`,
			s.name, g.Number, Layout, tj)
		return err
	})
	if err != nil {
		return Generation{}, fmt.Errorf("start rebuild: %w", err)
	}
	return g, nil
}

// Rebuilding returns the rebuild under way (building or paused) and its target.
func (s *Store) Rebuilding(ctx context.Context) (Generation, Target, error) {
	var g Generation
	var tj []byte
	err := s.pool.QueryRow(ctx, `select generation, layout, state, mode, target from projection_generations
		where projection = $1 and (state in ('building', 'paused') or (state = 'live' and mode = 'in-place'))`, s.name).
		Scan(&g.Number, &g.Layout, &g.State, &g.Mode, &tj)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, nil, ErrNoRebuild
	}
	if err != nil {
		return g, nil, fmt.Errorf("rebuild: %w", err)
	}
	var t Target
	if len(tj) > 0 {
		if err := json.Unmarshal(tj, &t); err != nil {
			return g, nil, err
		}
	}
	return g, t, nil
}

// ResetInPlace empties the paused live generation (rows, checkpoints,
// parked events) and hands it back to the projectors, which replay it
// from offset zero. Call it once no projector consumes it any more.
func (s *Store) ResetInPlace(ctx context.Context, gen int) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		if err := truncateSchema(ctx, tx, s.model.Schema(gen)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from projection_checkpoints where projection = $1 and generation = $2`, s.name, gen); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from projection_parked where projection = $1 and generation = $2`, s.name, gen); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `update projection_generations set state = 'live' where projection = $1 and generation = $2 and state = 'paused' and mode = 'in-place'`, s.name, gen)
		if err == nil && tag.RowsAffected() == 0 {
			err = ErrNoRebuild
		}
		return err
	})
}

// FinishInPlace marks an in-place rebuild complete.
func (s *Store) FinishInPlace(ctx context.Context, gen int) error {
	_, err := s.pool.Exec(ctx, `update projection_generations set mode = 'shadow', target = null where projection = $1 and generation = $2`, s.name, gen)
	return err
}

// SetPaused pauses (projectors stop feeding it, its rows and offsets stay)
// or resumes a shadow rebuild.
func (s *Store) SetPaused(ctx context.Context, paused bool) (Generation, error) {
	from, to := "building", "paused"
	if !paused {
		from, to = "paused", "building"
	}
	var g Generation
	err := s.pool.QueryRow(ctx, `update projection_generations set state = $3 where projection = $1 and state = $2 and mode = 'shadow'
		returning generation, layout, state, mode`, s.name, from, to).Scan(&g.Number, &g.Layout, &g.State, &g.Mode)
	if errors.Is(err, pgx.ErrNoRows) {
		return g, ErrNoRebuild
	}
	return g, err
}

// Abandon cancels a shadow rebuild for good and drops its tables.
func (s *Store) Abandon(ctx context.Context) (Generation, error) {
	var g Generation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `update projection_generations set state = 'cancelled' where projection = $1 and state in ('building', 'paused') and mode = 'shadow'
			returning generation, layout, state, mode`, s.name).Scan(&g.Number, &g.Layout, &g.State, &g.Mode)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNoRebuild
		}
		if err != nil {
			return err
		}
		return s.dropGeneration(ctx, tx, g.Number)
	})
	return g, err
}

func (s *Store) dropGeneration(ctx context.Context, tx pgx.Tx, gen int) error {
	if _, err := tx.Exec(ctx, fmt.Sprintf(`drop schema if exists %s cascade`, s.model.Schema(gen))); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `delete from projection_checkpoints where projection = $1 and generation = $2`, s.name, gen); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `delete from projection_parked where projection = $1 and generation = $2`, s.name, gen)
	return err
}

// BuildIndexes creates the secondary indexes of a rebuilt generation
// (after its bulk load, before the swap). Finishers of one generation take
// turns (an advisory lock per generation): two building the same indexes
// at once deadlock. One that finds the generation no longer being built
// (the other swapped it in) returns ErrNoRebuild.
func (s *Store) BuildIndexes(ctx context.Context, gen int) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('catalog.projection.finish.' || $1), $2)`, s.name, gen); err != nil {
			return fmt.Errorf("wait for other finishers: %w", err)
		}
		var state string
		err := tx.QueryRow(ctx, `select state from projection_generations where projection = $1 and generation = $2`, s.name, gen).Scan(&state)
		if errors.Is(err, pgx.ErrNoRows) || (err == nil && state != "building") {
			return ErrNoRebuild
		}
		if err != nil {
			return err
		}
		return s.model.BuildIndexes(ctx, tx, gen)
	})
	if err != nil {
		return fmt.Errorf("finish generation %d: %w", gen, err)
	}
	return nil
}

// Swap makes generation gen live in one transaction (the views move to it)
// and retires the previous live generation, whose tables are then dropped.
// It returns the retired generation's number. Gen must have consumed every
// partition at least as far as the live generation has, else nothing
// changes and the error is ErrBehindLive: the check runs once both
// generations' in-flight batches have committed (their share locks on the
// generation rows), and no batch of either commits until the swap does.
func (s *Store) Swap(ctx context.Context, gen int) (int, error) {
	var old int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `update projection_generations set state = 'retired' where projection = $1 and state = 'live' returning generation`, s.name).Scan(&old); err != nil {
			return fmt.Errorf("retire live generation: %w", err)
		}
		tag, err := tx.Exec(ctx, `update projection_generations set state = 'live', swapped_at = now(), target = null
			where projection = $1 and generation = $2 and state = 'building'`, s.name, gen)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNoRebuild
		}
		var behind int
		var lag int64
		if err := tx.QueryRow(ctx, `select count(*), coalesce(sum(o.next_offset - coalesce(n.next_offset, 0)), 0)
			from projection_checkpoints o
			left join projection_checkpoints n on n.projection = o.projection and n.generation = $3 and n.topic = o.topic and n.partition = o.partition
			where o.projection = $1 and o.generation = $2 and o.next_offset > coalesce(n.next_offset, 0)`, s.name, old, gen).Scan(&behind, &lag); err != nil {
			return fmt.Errorf("compare with the live generation: %w", err)
		}
		if behind > 0 {
			return fmt.Errorf("%w: %d events behind generation %d in %d partitions", ErrBehindLive, lag, old, behind)
		}
		return s.model.Expose(ctx, tx, gen)
	})
	if err != nil {
		return 0, fmt.Errorf("swap in generation %d: %w", gen, err)
	}
	// The old tables go in a transaction of their own: it waits for reads
	// still running on them, which the swap itself never does.
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return s.dropGeneration(ctx, tx, old) }); err != nil {
		return old, fmt.Errorf("drop generation %d: %w", old, err)
	}
	return old, nil
}

// PartitionProgress is a generation's position in one partition.
type PartitionProgress = projections.PartitionProgress

// Checkpoints returns a generation's stored position in every partition it
// has consumed.
func (s *Store) Checkpoints(ctx context.Context, gen int) ([]PartitionProgress, error) {
	rows, err := s.pool.Query(ctx, `select topic, partition, next_offset, applied, stale from projection_checkpoints
		where projection = $1 and generation = $2 order by topic, partition`, s.name, gen)
	if err != nil {
		return nil, fmt.Errorf("checkpoints: %w", err)
	}
	var out []PartitionProgress
	var p PartitionProgress
	_, err = pgx.ForEachRow(rows, []any{&p.Topic, &p.Partition, &p.Next, &p.Applied, &p.Stale}, func() error { out = append(out, p); return nil })
	return out, err
}

// truncateSchema empties every table of a generation's schema.
func truncateSchema(ctx context.Context, tx pgx.Tx, sc string) error {
	rows, err := tx.Query(ctx, `select quote_ident(schemaname) || '.' || quote_ident(tablename) from pg_tables where schemaname = $1`, sc)
	if err != nil {
		return fmt.Errorf("tables of %s: %w", sc, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		return err
	}
	if _, err := tx.Exec(ctx, `truncate `+strings.Join(tables, ", ")); err != nil {
		return fmt.Errorf("empty %s: %w", sc, err)
	}
	return nil
}

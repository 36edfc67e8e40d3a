// Package projectionpg is the projection machinery in PostgreSQL, for any
// projection, keyed by its name: its generations (a schema each, made by
// the projection's Model), its checkpoints (consumed offsets, written with
// the rows), its parked events, its stored cache invalidations and its
// rebuilds. A projection's own tables, writes and readers live in its
// adapter package (e.g. projections/trackdetails/trackdetailspg).
package projectionpg

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/pgmigrate"
	"github.com/catalog-org/catalog/projections"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the read-model tables up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Migrate(ctx, pool, "projections_schema_version", migrations)
}

// Layout is the version of a generation's tables (createGeneration). A
// change to them raises it; a live generation of an older layout must be
// rebuilt.
const Layout = 1

// Generation is one generation of a read model.
type Generation = projections.Generation

// Model is a projection's part of its Postgres store: its tables in one
// generation's schema and how a batch's usable events are written to
// them. The generation machinery (Store) calls it inside its own
// transactions; a Model never commits.
type Model interface {
	// Schema names generation gen's schema (e.g. td_g3).
	Schema(gen int) string
	// Create creates generation gen's schema and tables; the secondary
	// indexes too when withIndexes is set, else BuildIndexes adds them
	// after the bulk load of a rebuild.
	Create(ctx context.Context, tx pgx.Tx, gen int, withIndexes bool) error
	// BuildIndexes creates generation gen's secondary indexes.
	BuildIndexes(ctx context.Context, tx pgx.Tx, gen int) error
	// Expose makes the projection's stable names (views) show generation
	// gen; it runs in the swap's transaction.
	Expose(ctx context.Context, tx pgx.Tx, gen int) error
	// Validate returns why an event cannot be applied (it is parked), or "".
	Validate(c projections.Change) string
	// Apply folds changes, in order, into generation gen's tables and
	// counts them (Applied, Stale, Changed).
	Apply(ctx context.Context, tx pgx.Tx, gen int, changes []projections.Change) (projections.ApplyResult, error)
}

// Preparer is a Model whose fold reads less than the events it folds: the
// projector has each change prepared as it is decoded
// (projections.WithPrepare), so a batch in flight holds only what Apply
// will read.
type Preparer interface {
	Prepare(c projections.Change) projections.Change
}

// Store is the generation machinery of one projection in PostgreSQL,
// keyed by the projection's name: its generations (a schema each), its
// checkpoints (written with the rows), its parked events, its stored
// cache invalidations and its rebuilds. The projection's Model supplies
// its tables and its writes.
type Store struct {
	pool  *pgxpool.Pool
	name  string
	model Model
}

// NewStore returns the store of the projection name on pool. Run Migrate first.
func NewStore(pool *pgxpool.Pool, name string, model Model) (*Store, error) {
	if pool == nil || name == "" || model == nil {
		return nil, errors.New("projectionpg: pool, name and model are required")
	}
	return &Store{pool: pool, name: name, model: model}, nil
}

// Name returns the projection's name.
func (s *Store) Name() string { return s.name }

// lockGenerations serialises changes to the generations of the projection.
func lockGenerations(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('catalog.projection.' || $1))`, name)
	return err
}

// EnsureLive returns the live generation, creating generation 1 (empty,
// with its indexes, views pointed at it) when there is none. During an
// in-place rebuild, between its start and its reset, the live generation
// is the paused one (state "paused", mode "in-place"): it is returned as
// such, never replaced by a new empty one (which would be exposed to the
// API and then collide with the reset handing the paused one back).
func (s *Store) EnsureLive(ctx context.Context) (Generation, error) {
	var g Generation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `select generation, layout, state, mode from projection_generations
			where projection = $1 and (state = 'live' or (state = 'paused' and mode = 'in-place'))`, s.name).
			Scan(&g.Number, &g.Layout, &g.State, &g.Mode)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var next int
		if err := tx.QueryRow(ctx, `select coalesce(max(generation), 0) + 1 from projection_generations where projection = $1`, s.name).Scan(&next); err != nil {
			return err
		}
		g = Generation{Number: next, Layout: Layout, State: "live", Mode: "shadow"}
		if err := s.model.Create(ctx, tx, next, true); err != nil {
			return err
		}
		if err := s.model.Expose(ctx, tx, next); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `insert into projection_generations (projection, generation, layout, state, swapped_at) values ($1, $2, $3, 'live', now())`,
			s.name, next, Layout)
		return err
	})
	if err != nil {
		return Generation{}, fmt.Errorf("live generation: %w", err)
	}
	return g, nil
}

// Active returns the generations projectors must feed: the live one and a
// rebuild being built.
func (s *Store) Active(ctx context.Context) ([]Generation, error) {
	rows, err := s.pool.Query(ctx, `select generation, layout, state, mode from projection_generations
		where projection = $1 and state in ('live', 'building') order by generation`, s.name)
	if err != nil {
		return nil, fmt.Errorf("generations: %w", err)
	}
	var out []Generation
	var g Generation
	_, err = pgx.ForEachRow(rows, []any{&g.Number, &g.Layout, &g.State, &g.Mode}, func() error { out = append(out, g); return nil })
	if err != nil {
		return nil, fmt.Errorf("generations: %w", err)
	}
	return out, nil
}

// Generations returns every generation, newest first.
func (s *Store) Generations(ctx context.Context) ([]Generation, error) {
	rows, err := s.pool.Query(ctx, `select generation, layout, state, mode from projection_generations where projection = $1 order by generation desc`, s.name)
	if err != nil {
		return nil, fmt.Errorf("generations: %w", err)
	}
	var out []Generation
	var g Generation
	_, err = pgx.ForEachRow(rows, []any{&g.Number, &g.Layout, &g.State, &g.Mode}, func() error { out = append(out, g); return nil })
	return out, err
}

// ContentHash is a content hash of generation gen: every row of every table
// of its schema (Model.Schema), tables in name order, rows in the order of
// their text. Two generations built from the same log have the same hash.
// A projection may register a hash of its own (e.g. in key order); this is
// the default.
func (s *Store) ContentHash(ctx context.Context, gen int) (string, error) {
	sc := s.model.Schema(gen)
	rows, err := s.pool.Query(ctx, `select table_name from information_schema.tables
		where table_schema = $1 and table_type = 'BASE TABLE' order by table_name`, sc)
	if err != nil {
		return "", fmt.Errorf("hash generation %d: %w", gen, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("hash generation %d: %w", gen, err)
	}
	if len(tables) == 0 {
		return "", fmt.Errorf("hash generation %d: schema %s has no tables", gen, sc)
	}
	h := sha256.New()
	for _, t := range tables {
		id := pgx.Identifier{sc, t}.Sanitize()
		rows, err := s.pool.Query(ctx, fmt.Sprintf(`select r::text from %s r order by 1`, id))
		if err != nil {
			return "", fmt.Errorf("hash generation %d: %w", gen, err)
		}
		fmt.Fprintf(h, "%s\n", t)
		var line string
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error {
			h.Write([]byte(line))
			h.Write([]byte{'\n'})
			return nil
		}); err != nil {
			return "", fmt.Errorf("hash generation %d: %w", gen, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Package projectionpg stores catalog's read models in PostgreSQL: the
// generations of the track-details model (a schema per generation, the
// stable views td.releases and td.tracks on the live one), the
// projections' checkpoints (consumed offsets, written with the rows),
// parked events, and the queries the APIs run.
package projectionpg

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the read-model tables up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return eventpg.Migrate(ctx, pool, "projections_schema_version", migrations)
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

// TrackDetails is the PostgreSQL store of the track-details read model:
// the shared generation machinery (Store) on its tables, and its readers.
type TrackDetails struct {
	*Store
}

// NewTrackDetails returns the track-details store on pool. Run Migrate first.
func NewTrackDetails(pool *pgxpool.Pool) (*TrackDetails, error) {
	s, err := NewStore(pool, trackdetails.Name, trackDetailsModel{})
	if err != nil {
		return nil, err
	}
	return &TrackDetails{Store: s}, nil
}

// trackDetailsModel is track-details' Model: schemas td_g<N>, the stable
// views td.releases and td.tracks, and the pure fold's rows.
type trackDetailsModel struct{}

func (trackDetailsModel) Schema(gen int) string { return schema(gen) }
func (trackDetailsModel) Create(ctx context.Context, tx pgx.Tx, gen int, withIndexes bool) error {
	return createGeneration(ctx, tx, gen, withIndexes)
}
func (trackDetailsModel) BuildIndexes(ctx context.Context, tx pgx.Tx, gen int) error {
	return buildIndexes(ctx, tx, gen)
}
func (trackDetailsModel) Expose(ctx context.Context, tx pgx.Tx, gen int) error {
	return pointViews(ctx, tx, gen)
}
func (trackDetailsModel) Validate(c projections.Change) string { return trackdetails.Validate(c.Event) }

func schema(gen int) string { return fmt.Sprintf("td_g%d", gen) }

// createGeneration creates the tables of a generation. The secondary
// indexes are created now when withIndexes is set, else by buildIndexes
// after the bulk load of a rebuild.
func createGeneration(ctx context.Context, tx pgx.Tx, gen int, withIndexes bool) error {
	sc := schema(gen)
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		create schema %[1]s;
		create table %[1]s.releases (
			release_id        bigint primary key,
			upc               text,
			grid              text,
			catalog_number    text not null default '',
			title             text not null,
			version_title     text not null default '',
			release_type      text not null default '',
			artist_id         bigint not null,
			artist_name       text not null,
			label             text not null default '',
			pline             text not null default '',
			cline             text not null default '',
			genre             text not null default '',
			parental_warning  text not null default '',
			release_date      text not null default '',
			terms             jsonb not null default '[]',
			track_terms       jsonb not null default '{}',
			purged            boolean not null default false,
			version           bigint not null
		);
		create table %[1]s.tracks (
			track_id          bigint not null,
			release_id        bigint not null,
			isrc              text not null,
			title             text not null,
			version_title     text not null default '',
			artist_id         bigint not null,
			artist_name       text not null,
			duration_s        integer not null,
			disc              integer not null,
			number            integer not null,
			pline             text not null default '',
			parental_warning  text not null default '',
			terms             jsonb,
			version           bigint not null,
			-- A track is an id on a release; only a log written before ids
			-- were per release (docs/events.md) has one id on two releases.
			primary key (track_id, release_id)
		);
		-- Writes find a release's tracks by release_id, so this one exists
		-- from the start; the look-up indexes come after a bulk load.
		create index tracks_release on %[1]s.tracks (release_id);`, sc))
	if err != nil {
		return fmt.Errorf("create generation %d: %w", gen, err)
	}
	if withIndexes {
		return buildIndexes(ctx, tx, gen)
	}
	return nil
}

func buildIndexes(ctx context.Context, tx pgx.Tx, gen int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		create index if not exists tracks_release on %[1]s.tracks (release_id);
		create index if not exists tracks_isrc on %[1]s.tracks (isrc);
		create index if not exists releases_upc on %[1]s.releases (upc);
		create index if not exists releases_grid on %[1]s.releases (grid);
		analyze %[1]s.releases;
		analyze %[1]s.tracks;`, schema(gen)))
	if err != nil {
		return fmt.Errorf("indexes of generation %d: %w", gen, err)
	}
	return nil
}

// pointViews makes td.releases and td.tracks show generation gen.
func pointViews(ctx context.Context, tx pgx.Tx, gen int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		drop view if exists td.tracks;
		drop view if exists td.releases;
		create view td.releases as select %[2]d as generation, * from %[1]s.releases;
		create view td.tracks as select %[2]d as generation, * from %[1]s.tracks;`, schema(gen), gen))
	if err != nil {
		return fmt.Errorf("point views at generation %d: %w", gen, err)
	}
	return nil
}

// lockGenerations serialises changes to the generations of the projection.
func lockGenerations(ctx context.Context, tx pgx.Tx, name string) error {
	_, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtext('catalog.projection.' || $1))`, name)
	return err
}

// EnsureLive returns the live generation, creating generation 1 (empty,
// with its indexes, views pointed at it) when there is none.
func (s *Store) EnsureLive(ctx context.Context) (Generation, error) {
	var g Generation
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockGenerations(ctx, tx, s.name); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `select generation, layout, state, mode from projection_generations where projection = $1 and state = 'live'`, s.name).
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

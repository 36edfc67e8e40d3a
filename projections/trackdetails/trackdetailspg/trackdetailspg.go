// Package trackdetailspg is the track-details projection's PostgreSQL
// adapter: its Model (the generation tables td_g<N>, the stable views
// td.releases and td.tracks on the live one, and the writes of the pure
// fold's rows, projections/trackdetails) and its readers (the API's
// look-ups, the content hash, the checkers' scans). The generation
// machinery it runs on is projections/projectionpg.
package trackdetailspg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// Store is the PostgreSQL store of the track-details read model: the
// shared generation machinery (projectionpg.Store) on its Model, and its
// readers.
type Store struct {
	*projectionpg.Store
	pool *pgxpool.Pool
}

// New returns the track-details store on pool. Run projectionpg.Migrate
// first.
func New(pool *pgxpool.Pool) (*Store, error) {
	s, err := projectionpg.NewStore(pool, trackdetails.Name, Model{})
	if err != nil {
		return nil, err
	}
	return &Store{Store: s, pool: pool}, nil
}

// Model is track-details' projectionpg.Model: schemas td_g<N>, the stable
// views td.releases and td.tracks, and the pure fold's rows. Its names are
// a stable API: a deployment's existing generations keep working under
// them without a rebuild.
type Model struct{}

// Schema implements projectionpg.Model.
func (Model) Schema(gen int) string { return schema(gen) }

// Create implements projectionpg.Model.
func (Model) Create(ctx context.Context, tx pgx.Tx, gen int, withIndexes bool) error {
	return createGeneration(ctx, tx, gen, withIndexes)
}

// BuildIndexes implements projectionpg.Model.
func (Model) BuildIndexes(ctx context.Context, tx pgx.Tx, gen int) error {
	return buildIndexes(ctx, tx, gen)
}

// Expose implements projectionpg.Model: td.releases and td.tracks show gen.
func (Model) Expose(ctx context.Context, tx pgx.Tx, gen int) error {
	return pointViews(ctx, tx, gen)
}

// Validate implements projectionpg.Model (trackdetails.Validate).
func (Model) Validate(c projections.Change) string { return trackdetails.Validate(c.Event) }

// Prepare implements projectionpg.Preparer (trackdetails.Prepare).
func (Model) Prepare(c projections.Change) projections.Change { return trackdetails.Prepare(c) }

// The projector prepares changes only for a Model that is a Preparer.
var _ projectionpg.Preparer = Model{}

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

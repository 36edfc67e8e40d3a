package projectionpg

import (
	"context"
	"testing"

	"github.com/catalog-org/catalog/pgmigrate"
	"github.com/catalog-org/catalog/testenv"
)

// TestMigrationRekeysExistingGenerations: a generation created when a
// track row was keyed by its id alone is re-keyed by (track, release), so
// a legacy log's shared id can sit on two releases.
func TestMigrationRekeysExistingGenerations(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	if err := pgmigrate.MigrateTo(ctx, pool, "projections_schema_version", migrations, 3); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `create schema td_g4; create table td_g4.tracks (track_id bigint primary key, release_id bigint not null);
		insert into td_g4.tracks values (11, 1)`); err != nil {
		t.Fatal(err)
	}
	if err := Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `insert into td_g4.tracks values (11, 2)`); err != nil {
		t.Errorf("a second release's row for track 11: %v", err)
	}
	if _, err := pool.Exec(ctx, `insert into td_g4.tracks values (11, 2)`); err == nil {
		t.Error("the same (track, release) twice was accepted")
	}
}

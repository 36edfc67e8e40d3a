package main_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestMigrateCommand: `catalog migrate` brings an empty database to every
// role's schema (what the Kubernetes migration Job runs), and running it
// again changes nothing and succeeds.
func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.run(t, "migrate")
	s.run(t, "migrate")
	conn, err := pgx.Connect(context.Background(), s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, table := range []string{"ingest_schema_version", "outbox", "release_streams", "projections_schema_version",
		"projection_generations", "gateway_schema_version", "api_clients"} {
		var n int
		if err := conn.QueryRow(context.Background(), "select count(*) from information_schema.tables where table_schema='public' and table_name=$1", table).Scan(&n); err != nil || n != 1 {
			t.Errorf("after catalog migrate, table %s: %d (%v)", table, n, err)
		}
	}
}

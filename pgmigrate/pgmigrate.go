// Package pgmigrate applies a store's versioned, embedded PostgreSQL schema
// migrations at start-up, under an advisory lock (tern's migrator), so
// several processes may start at once. Every store (ingest's write side and
// outbox, the projections' machinery, the gateway's clients) keeps its own
// version table and evolves independently.
package pgmigrate

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Migrate applies the *.sql files under migrations/ in fsys (named
// NNN_description.sql) that versionTable has not recorded yet. Each store
// keeps its own version table, so stores evolve independently.
func Migrate(ctx context.Context, pool *pgxpool.Pool, versionTable string, fsys fs.FS) error {
	return MigrateTo(ctx, pool, versionTable, fsys, -1)
}

// MigrateTo is Migrate up to migration version (all of them when version
// is negative). Tests use it to build a database as an older release left it.
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, versionTable string, fsys fs.FS, version int32) error {
	sub, err := fs.Sub(fsys, "migrations")
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", versionTable, err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", versionTable, err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", versionTable, err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("load migrations of %s: %w", versionTable, err)
	}
	if version < 0 {
		err = m.Migrate(ctx)
	} else {
		err = m.MigrateTo(ctx, version)
	}
	if err != nil {
		return fmt.Errorf("migrate %s: %w", versionTable, err)
	}
	return nil
}

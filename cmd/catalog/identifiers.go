package main

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers/identifierspg"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// openIdentifiers returns the identifiers read model's store for the API's
// partner look-ups, its live generation (and so the views the API reads)
// created if need be.
func openIdentifiers(ctx context.Context, pool *pgxpool.Pool) (*identifierspg.Store, projections.Generation, error) {
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return nil, projections.Generation{}, err
	}
	store, err := identifierspg.New(pool)
	if err != nil {
		return nil, projections.Generation{}, err
	}
	live, err := store.EnsureLive(ctx)
	return store, live, err
}

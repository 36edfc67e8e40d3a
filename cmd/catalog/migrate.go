package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/ingest/ingestpg"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// migrateCommand applies every role's database migrations and exits: the
// Kubernetes migration Job runs it before the roles start. Each role also
// applies its own at start (versioned, under an advisory lock), so running
// it twice, or beside a starting role, is harmless.
func migrateCommand(cfg config, log *slog.Logger) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply every role's PostgreSQL migrations (ingest, projections, gateway) and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
				for _, m := range []struct {
					name string
					fn   func(context.Context, *pgxpool.Pool) error
				}{{"ingest", ingestpg.Migrate}, {"projections", projectionpg.Migrate}, {"gateway", gatewaypg.Migrate}} {
					if err := m.fn(cmd.Context(), pool); err != nil {
						return fmt.Errorf("migrate %s: %w", m.name, err)
					}
					log.Info("migrations applied", "part", m.name)
				}
				return nil
			})
		},
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
)

// replicationCommands are `catalog clients replicate`, `replication` and
// `unreplicate`: a region's copy of the central clients tables, kept by
// PostgreSQL's logical replication.
func replicationCommands(cfg config, log *slog.Logger) []*cobra.Command {
	var from, name string
	var wait time.Duration
	regional := func(what string) error {
		if cfg.Region == gateway.Central {
			return fmt.Errorf("clients %s: this process serves the %s region, which owns the clients tables: run it with the region's CATALOG_REGION and its CATALOG_PG_URL", what, gateway.Central)
		}
		return nil
	}
	subName := func() string {
		if name != "" {
			return name
		}
		return gatewaypg.SubscriptionName(cfg.Region)
	}
	replicate := &cobra.Command{
		Use:   "replicate --from CENTRAL_PG_URL",
		Short: "Replicate the central clients tables into this region's database (PostgreSQL logical replication)",
		Long: `Run against a region's database (CATALOG_REGION, CATALOG_PG_URL): migrates the gateway's tables
on both sides, publishes them on the central database (--from, which must run with
wal_level=logical) and subscribes this database to them under catalog_gateway_<region> (also the
replication slot's name on the central server), then waits until the initial copy is done.
Idempotent: run it again after an upgrade or to change --from. The region's gateway reads its own
copy, so it keeps serving while the central database is down.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := regional("replicate"); err != nil {
				return err
			}
			if from == "" {
				return errors.New("clients replicate: --from names the central database (a postgres:// URL the regional PostgreSQL server can reach)")
			}
			ctx := cmd.Context()
			return withPostgres(ctx, cfg, func(region *pgxpool.Pool) error {
				central, err := connectCentral(ctx, from)
				if err != nil {
					return err
				}
				defer central.Close()
				if err := gatewaypg.Publish(ctx, central); err != nil {
					return err
				}
				if err := gatewaypg.Subscribe(ctx, region, subName(), from); err != nil {
					return err
				}
				log.Info("clients replicated", "subscription", subName(), "publication", gatewaypg.Publication)
				deadline := time.Now().Add(wait)
				for {
					st, err := gatewaypg.Status(ctx, region, subName(), central)
					if err != nil {
						return err
					}
					if st.Ready() || time.Now().After(deadline) {
						printReplication(cmd.OutOrStdout(), st)
						if !st.Ready() && wait > 0 {
							return fmt.Errorf("clients replicate: the subscription %s is not ready after %s (see the regional PostgreSQL's log)", subName(), wait)
						}
						return nil
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(200 * time.Millisecond):
					}
				}
			})
		},
	}
	replicate.Flags().StringVar(&from, "from", "", "the central database's URL, as the regional PostgreSQL server reaches it")
	replicate.Flags().DurationVar(&wait, "wait", time.Minute, "how long to wait for the initial copy (0: do not wait)")
	replicate.Flags().StringVar(&name, "name", "", "the subscription's (and slot's) name (default catalog_gateway_<region>)")

	status := &cobra.Command{
		Use:   "replication [--from CENTRAL_PG_URL]",
		Short: "Show this region's replication of the central clients tables (with --from: the lag in WAL bytes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := regional("replication"); err != nil {
				return err
			}
			ctx := cmd.Context()
			return withPostgres(ctx, cfg, func(region *pgxpool.Pool) error {
				var central *pgxpool.Pool
				if from != "" {
					c, err := connectCentral(ctx, from)
					if err != nil {
						return err
					}
					defer c.Close()
					central = c
				}
				st, err := gatewaypg.Status(ctx, region, subName(), central)
				if err != nil {
					if !errors.Is(err, gatewaypg.ErrNoSubscription) {
						printReplication(cmd.OutOrStdout(), st)
					}
					return err
				}
				printReplication(cmd.OutOrStdout(), st)
				return nil
			})
		},
	}
	status.Flags().StringVar(&from, "from", "", "the central database's URL, to read the lag from its replication slot")
	status.Flags().StringVar(&name, "name", "", "the subscription's name (default catalog_gateway_<region>)")

	unreplicate := &cobra.Command{
		Use:   "unreplicate",
		Short: "Drop this region's subscription to the central clients tables (and its slot on the central server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := regional("unreplicate"); err != nil {
				return err
			}
			return withPostgres(cmd.Context(), cfg, func(region *pgxpool.Pool) error {
				if err := gatewaypg.Unsubscribe(cmd.Context(), region, subName()); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok: subscription", subName(), "dropped; the region's copy of the clients stays as it was")
				return nil
			})
		},
	}
	unreplicate.Flags().StringVar(&name, "name", "", "the subscription's name (default catalog_gateway_<region>)")
	return []*cobra.Command{replicate, status, unreplicate}
}

// connectCentral connects to the central database with a small pool.
func connectCentral(ctx context.Context, url string) (*pgxpool.Pool, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("--from: %w", err)
	}
	pcfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("central postgres: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("central postgres: %w", err)
	}
	return pool, nil
}

// printReplication writes a subscription's state as name: value lines.
func printReplication(w io.Writer, st gatewaypg.ReplicationStatus) {
	var tables []string
	for _, t := range st.Tables {
		tables = append(tables, t.Table+"="+t.State)
	}
	fmt.Fprintf(w, "subscription: %s\nready: %t\nenabled: %t\nrunning: %t\ntables: %s\nreceived lsn: %s\n",
		st.Subscription, st.Ready(), st.Enabled, st.Running, strings.Join(tables, ","), st.ReceivedLSN)
	if !st.LastMessage.IsZero() {
		fmt.Fprintf(w, "last message: %s ago\n", time.Since(st.LastMessage).Round(time.Millisecond))
	}
	if st.LagBytes >= 0 {
		fmt.Fprintf(w, "lag bytes: %d\n", st.LagBytes)
	}
}

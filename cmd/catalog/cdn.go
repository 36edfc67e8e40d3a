package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/api/cdnpurge"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

func runCDNPurgeRole(ctx context.Context, cfg config, log *slog.Logger) error {
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error { return cdnPurgeRole(ctx, cfg, log, pool) })
}

func (c config) cdnEndpoint() (*cdnpurge.Endpoint, error) {
	if c.CDNPurgeURL == "" {
		return nil, errors.New("CATALOG_CDN_PURGE_URL is not set: the CDN purger needs the purge endpoint (the local Varnish: see make run)")
	}
	e, err := cdnpurge.NewEndpoint(cdnpurge.EndpointConfig{URL: c.CDNPurgeURL, ServiceID: c.CDNServiceID, Token: c.CDNPurgeToken})
	if err != nil {
		return nil, fmt.Errorf("CATALOG_CDN_PURGE_URL, CATALOG_CDN_SERVICE_ID, CATALOG_CDN_PURGE_TOKEN: %w", err)
	}
	return e, nil
}

func (c config) cdnPoison() cdnpurge.PoisonConfig {
	return cdnpurge.PoisonConfig{Kafka: c.kafka("catalog-cdn-poison"), Topic: c.cdnPoisonTopic(), Group: c.cdnPurgeGroup() + ".resend"}
}

// cdnPurgeRole runs the CDN purger and serves its metrics.
func cdnPurgeRole(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool) error {
	endpoint, err := cfg.cdnEndpoint()
	if err != nil {
		return err
	}
	admin, err := events.NewAdmin(ctx, cfg.kafka("catalog-cdn-purge"))
	if err != nil {
		return err
	}
	defer admin.Close()
	if err := prepareTopics(ctx, cfg, admin, log, cfg.cdnPoisonSpec()); err != nil {
		return err
	}
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		return err
	}
	// A change is purged once the track-details read model, which the API
	// serves, has committed it.
	store, err := trackdetailspg.New(pool)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	purger, err := cdnpurge.New(cdnpurge.Config{
		Kafka: cfg.kafka("catalog-cdn-purge"), Topic: cfg.releasesTopic(), Group: cfg.cdnPurgeGroup(), PoisonTopic: cfg.cdnPoisonTopic(),
	}, store, endpoint, reg, log)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return purger.Run(gctx, nil) })
	g.Go(func() error {
		return serve(gctx, cfg.CDNMetricsAddr, withHealth(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), postgresCheck(pool), kafkaCheck(admin)), log)
	})
	log.Info("cdn purger running", "purge_url", cfg.CDNPurgeURL, "group", cfg.cdnPurgeGroup(), "metrics", "http://"+cfg.CDNMetricsAddr+"/metrics")
	return g.Wait()
}

func cdnCommand(cfg config, _ *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "cdn", Short: "The CDN purger's poisoned purges"}
	cmd.AddCommand(&cobra.Command{
		Use:   "poisoned",
		Short: "List the purges that failed past their retries and were not re-sent",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ps, err := cdnpurge.ListPoisoned(cmd.Context(), cfg.cdnPoison())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, p := range ps {
				fmt.Fprintf(out, "%d@%d\t%s\t%s\t%s\tkeys=%s\treason=%s\n", p.Partition, p.Offset, p.At.UTC().Format("2006-01-02T15:04:05Z"),
					p.Source, p.Event, strings.Join(p.Keys, " "), p.Reason)
			}
			fmt.Fprintf(out, "%d poisoned purge(s)\n", len(ps))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "resend",
		Short: "Send the poisoned purges again, in order; each one accepted stops being listed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			endpoint, err := cfg.cdnEndpoint()
			if err != nil {
				return err
			}
			n, err := cdnpurge.Resend(cmd.Context(), cfg.cdnPoison(), endpoint)
			fmt.Fprintf(cmd.OutOrStdout(), "%d purge(s) re-sent\n", n)
			return err
		},
	})
	return cmd
}

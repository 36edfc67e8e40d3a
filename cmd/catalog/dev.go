package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/ingest/ingestpg"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
)

func devCommand(cfg config, log *slog.Logger) *cobra.Command {
	var sample int
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run every role in one process (local use); optionally load a sample catalogue and print a demo request",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withTracing(cmd.Context(), cfg, log, "dev", func(cfg config) error {
				return runDev(cmd.Context(), cfg, log, sample, cmd.OutOrStdout())
			})
		},
	}
	cmd.Flags().IntVar(&sample, "sample", 0, "generate and ingest this many sample releases, create the demo client and print a working curl")
	return cmd
}

func runDev(ctx context.Context, cfg config, log *slog.Logger, sample int, out io.Writer) error {
	if err := cfg.requireCentral("dev (every role, ingest among them)"); err != nil {
		return err
	}
	if cfg.PIDFile != "" {
		if err := os.WriteFile(cfg.PIDFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			return fmt.Errorf("pid file: %w", err)
		}
		defer os.Remove(cfg.PIDFile)
	}
	pool, err := connectPostgres(ctx, cfg)
	if err != nil {
		return err
	}
	defer pool.Close()
	// Migrate once, up front, so the roles below never race on it.
	for _, m := range []func(context.Context, *pgxpool.Pool) error{ingestpg.Migrate, projectionpg.Migrate, gatewaypg.Migrate} {
		if err := m(ctx, pool); err != nil {
			return err
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	ingestReady := make(chan *ingest.Service, 1)
	g.Go(func() error { return ingestRole(gctx, cfg, log.With("role", "ingest"), pool, ingestReady) })
	g.Go(func() error { return projectorRole(gctx, cfg, log.With("role", "project"), pool) })
	g.Go(func() error { return apiRole(gctx, cfg, log.With("role", "api"), pool) })
	g.Go(func() error { return gatewayRole(gctx, cfg, log.With("role", "gateway"), pool) })
	if cfg.CDNPurgeURL != "" {
		g.Go(func() error { return cdnPurgeRole(gctx, cfg, log.With("role", "cdn-purge"), pool) })
	}
	if sample > 0 {
		g.Go(func() error {
			var svc *ingest.Service
			select {
			case svc = <-ingestReady:
			case <-gctx.Done():
				return nil
			}
			return loadSample(gctx, cfg, log.With("role", "sample"), pool, svc, sample, out)
		})
	}
	err = g.Wait()
	if errors.Is(err, context.Canceled) || ctx.Err() != nil && err == nil {
		err = nil
	}
	log.Info("stopped")
	return err
}

// loadSample ingests a generated catalogue, makes sure the demo client
// exists, waits until the first sample track is served, and prints how to
// ask for it through the gateway.
func loadSample(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, svc *ingest.Service, n int, out io.Writer) error {
	var first int64
	accepted, unchanged := 0, 0
	for i, j := range gen.Releases(1, n) {
		res, err := svc.Deliver(ctx, j.Draft())
		if err != nil {
			return fmt.Errorf("sample release %d: %w", i, err)
		}
		if res.Status == string(release.Accepted) {
			accepted++
		} else {
			unchanged++
		}
		if i == 0 {
			first = res.TrackIDs[j.Tracks[0].ISRC]
		}
	}
	log.Info("sample catalogue loaded", "releases", n, "accepted", accepted, "unchanged", unchanged)

	clients, err := gatewaypg.New(pool, log)
	if err != nil {
		return err
	}
	key, err := demoKey(ctx, cfg, clients)
	if err != nil {
		return err
	}
	if err := clients.Reload(ctx); err != nil {
		return err
	}

	store, err := trackdetailspg.New(pool)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := store.Track(ctx, first, "GB", time.Now()); err == nil {
			break
		} else if !errors.Is(err, catalogue.ErrTrackNotFound) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("sample track %d was not projected within 2 minutes", first)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	curl := fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB&usageTypes=download,subscriptionstreaming&oauth_consumer_key=%s",
		cfg.GatewayAddr, first, url.QueryEscape(key))
	cdn := ""
	if cfg.CDNURL != "" {
		cdn = fmt.Sprintf("  cdn:       %s (Varnish in front of the gateway; same paths and keys)\n", cfg.CDNURL)
	}
	fmt.Fprintf(out, `
catalog is running (Ctrl-C stops it).

  gateway:   http://%s
%s  demo key:  %s
  try:       curl '%s'

`, cfg.GatewayAddr, cdn, key, curl)
	return nil
}

// demoKey returns the demo client's key: CATALOG_DEMO_KEY when set
// (registered if new), else the existing demo client's, else a new one.
func demoKey(ctx context.Context, cfg config, clients *gatewaypg.Store) (string, error) {
	const name = "demo"
	if cfg.DemoKey != "" {
		if err := clients.Add(ctx, cfg.DemoKey, name); err != nil && !errors.Is(err, gatewaypg.ErrClientExists) {
			return "", err
		}
		return cfg.DemoKey, nil
	}
	c, ok, err := clients.ByName(ctx, name)
	if err != nil {
		return "", err
	}
	if ok {
		return c.Key, nil
	}
	key := gatewaypg.NewKey()
	return key, clients.Add(ctx, key, name)
}

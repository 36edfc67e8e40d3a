package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/ingest"
)

func ingestCommand(cfg config, log *slog.Logger) *cobra.Command {
	var workers int
	var quiet, override bool
	cmd := &cobra.Command{
		Use:   "ingest [PATH...]",
		Short: "Serve the ingest API; with paths, ingest those files and folders (recursively) and exit",
		Long: `Without arguments: serve the ingest API (deliveries -> events in Kafka) and run the outbox relay.

With paths: ingest every .xml (DDEX ERN) and .json (catalog JSON) file under them, with a
progress bar and a summary of accepted, unchanged, stale and rejected deliveries. The exit
code is non-zero if any delivery was rejected or could not be applied.

A release belongs to the parties its first delivery came from (sender, SentOnBehalfOf); a
delivery from any other party is rejected. --override-owner is the operator override: it
applies the files whoever owns their releases, and hands each release it applies to to the
parties the delivery speaks for (a transfer, e.g. when a label changes distributor).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				log := log.With("role", "ingest")
				return withTracing(cmd.Context(), cfg, log, "ingest", func(cfg config) error { return runIngestRole(cmd.Context(), cfg, log) })
			}
			if override {
				log.Warn("operator override: deliveries are applied whoever owns their releases", "paths", args)
			}
			return runIngestFiles(cmd.Context(), cfg, log.With("role", "ingest"), args, workers, quiet, override, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().IntVar(&workers, "concurrency", 4, "deliveries processed at once")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "no progress bar")
	cmd.Flags().BoolVar(&override, "override-owner", false, "operator override: apply the files whoever owns their releases, and make their senders the owners")
	return cmd
}

func runIngestFiles(ctx context.Context, cfg config, log *slog.Logger, paths []string, workers int, quiet, override bool, stdout, stderr io.Writer) error {
	total, err := ingest.CountFiles(paths)
	if err != nil {
		return err
	}
	if total == 0 {
		return errors.New("no .xml or .json files under the given paths")
	}
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error {
		// Each of --concurrency workers waits for its delivery before the
		// next: a transaction per delivery keeps them all going at once.
		parts, err := newIngest(ctx, cfg, log, pool, 1)
		if err != nil {
			return err
		}
		defer parts.close()
		rctx, stopRelay := context.WithCancel(ctx)
		relayDone := make(chan error, 1)
		go func() { relayDone <- parts.relay.Run(rctx) }()
		defer func() { stopRelay(); <-relayDone }()

		barOut := stderr
		if quiet {
			barOut = io.Discard
		}
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(barOut), progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("deliveries"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
		sum, err := parts.svc.IngestPaths(ctx, paths, ingest.FolderConfig{Workers: workers, Override: override, Report: func(o ingest.FileOutcome) {
			_ = bar.Add(1)
			if o.Status == "rejected" || o.Status == "failed" || o.Status == "stale" {
				fmt.Fprintf(stdout, "  %s %s: %s\n", o.Status, o.Path, o.Reason)
			}
		}})
		_ = bar.Finish()
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted after %d of %d deliveries: %w", sum.Total, total, ctx.Err())
		}
		if err != nil {
			return err
		}
		return summarise(sum, stdout)
	})
}

// summarise prints the counts (the outcomes that were not applied are
// printed as they happen) and fails if any delivery was not applied.
func summarise(sum ingest.FolderSummary, w io.Writer) error {
	c := sum.Counts
	fmt.Fprintf(w, "%d deliveries: %d accepted, %d unchanged, %d stale, %d rejected, %d failed\n", sum.Total,
		c["accepted"], c["unchanged"], c["stale"], c["rejected"], c["failed"])
	if n := c["rejected"] + c["failed"]; n > 0 {
		return fmt.Errorf("%d of %d deliveries were not applied", n, sum.Total)
	}
	return nil
}

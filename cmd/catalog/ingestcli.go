package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/catalog-org/catalog/domain/release"
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
				return runIngestRole(cmd.Context(), cfg, log.With("role", "ingest"))
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

// collect lists the delivery files under paths, sorted so a folder of
// messages about one release is taken in name order.
func collect(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			ext := strings.ToLower(filepath.Ext(path))
			if !d.IsDir() && (ext == ".xml" || ext == ".json") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
	}
	sort.Strings(files)
	return files, nil
}

type fileOutcome struct {
	path   string
	status string
	reason string
}

func runIngestFiles(ctx context.Context, cfg config, log *slog.Logger, paths []string, workers int, quiet, override bool, stdout, stderr io.Writer) error {
	files, err := collect(paths)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return errors.New("no .xml or .json files under the given paths")
	}
	if workers < 1 {
		workers = 1
	}
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error {
		parts, err := newIngest(ctx, cfg, log, pool)
		if err != nil {
			return err
		}
		defer parts.prod.Close()
		rctx, stopRelay := context.WithCancel(ctx)
		relayDone := make(chan error, 1)
		go func() { relayDone <- parts.relay.Run(rctx) }()
		defer func() { stopRelay(); <-relayDone }()

		barOut := stderr
		if quiet {
			barOut = io.Discard
		}
		bar := progressbar.NewOptions(len(files), progressbar.OptionSetWriter(barOut), progressbar.OptionSetDescription("ingesting"),
			progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("deliveries"),
			progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(100_000_000), progressbar.OptionClearOnFinish())
		outcomes := make([]fileOutcome, len(files))
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(workers)
		for i, f := range files {
			if ctx.Err() != nil {
				break // interrupted: start no more
			}
			g.Go(func() error {
				o := fileOutcome{path: f, status: "failed", reason: "interrupted"}
				if gctx.Err() == nil {
					o = ingestFile(gctx, parts.svc, f, override)
				}
				mu.Lock()
				outcomes[i] = o
				_ = bar.Add(1)
				mu.Unlock()
				return nil
			})
		}
		_ = g.Wait()
		_ = bar.Finish()
		if ctx.Err() != nil {
			done := 0
			for _, o := range outcomes {
				if o.status != "" && o.reason != "interrupted" {
					done++
				}
			}
			return fmt.Errorf("interrupted after %d of %d deliveries: %w", done, len(files), ctx.Err())
		}
		return summarise(outcomes, stdout)
	})
}

func ingestFile(ctx context.Context, svc *ingest.Service, path string, override bool) fileOutcome {
	o := fileOutcome{path: path}
	data, err := os.ReadFile(path)
	if err != nil {
		o.status, o.reason = "failed", err.Error()
		return o
	}
	if len(data) > ingest.MaxBodyBytes {
		o.status, o.reason = "rejected", fmt.Sprintf("larger than %d bytes", ingest.MaxBodyBytes)
		return o
	}
	format := ingest.FormatERN
	if strings.EqualFold(filepath.Ext(path), ".json") {
		format = ingest.FormatJSON
	}
	d, err := ingest.Parse(format, data)
	if err == nil {
		d.Override = override
		var res ingest.Result
		res, err = svc.Submit(ctx, d)
		if err == nil {
			o.status, o.reason = res.Status, res.Reason
			return o
		}
	}
	if v, ok := release.IsValidationError(err); ok {
		o.status = "rejected"
		var parts []string
		for _, p := range v.Problems {
			parts = append(parts, p.Field+": "+p.Reason)
		}
		name := v.Message.Name()
		if name == "" {
			name = "(no message id)"
		}
		o.reason = "message " + name + ": " + strings.Join(parts, "; ")
		return o
	}
	if oe := (*release.OwnershipError)(nil); errors.As(err, &oe) {
		o.status, o.reason = "rejected", oe.Error()
		return o
	}
	o.status, o.reason = "failed", err.Error()
	return o
}

func summarise(outcomes []fileOutcome, w io.Writer) error {
	count := map[string]int{}
	for _, o := range outcomes {
		count[o.status]++
	}
	fmt.Fprintf(w, "%d deliveries: %d accepted, %d unchanged, %d stale, %d rejected, %d failed\n", len(outcomes),
		count["accepted"], count["unchanged"], count["stale"], count["rejected"], count["failed"])
	for _, o := range outcomes {
		if o.status == "rejected" || o.status == "failed" || o.status == "stale" {
			fmt.Fprintf(w, "  %s %s: %s\n", o.status, o.path, o.reason)
		}
	}
	if n := count["rejected"] + count["failed"]; n > 0 {
		return fmt.Errorf("%d of %d deliveries were not applied", n, len(outcomes))
	}
	return nil
}

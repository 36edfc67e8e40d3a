package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

func projectionsCommand(cfg config, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Operate read models: status, rebuilds, parked events"}
	with := func(cmd *cobra.Command, fn func(*projectionpg.TrackDetails, *projections.Rebuilder) error) error {
		return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
			if err := projectionpg.Migrate(cmd.Context(), pool); err != nil {
				return err
			}
			store, err := projectionpg.NewTrackDetails(pool)
			if err != nil {
				return err
			}
			cache, err := newCache(cfg)
			if err != nil {
				return err
			}
			if cache != nil {
				defer cache.Close()
			}
			rb, err := newRebuilder(cfg, log, store, cache)
			if err != nil {
				return err
			}
			return fn(store, rb)
		})
	}

	var asJSON bool
	statusCmd := &cobra.Command{
		Use:   "status",
		Short: "Generations, per-partition positions and lag, parked events, rebuild progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return with(cmd, func(store *projectionpg.TrackDetails, rb *projections.Rebuilder) error {
				st, err := readStatus(cmd.Context(), cfg, store, rb)
				if err != nil {
					return err
				}
				return printStatus(cmd.OutOrStdout(), st, asJSON)
			})
		},
	}
	statusCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var inPlace, noWait, pause, resume bool
	rebuild := &cobra.Command{
		Use:   "rebuild track-details|identifiers",
		Short: "Rebuild the read model from offset zero (zero downtime unless --in-place), with progress",
		Long: `Starts a rebuild of the track-details read model from offset zero of every partition, or
attaches to the one under way, shows its progress, and swaps the new generation in once it has
caught up. The running projectors do the replay: interrupting this command does not stop the
rebuild (run it again to watch and finish it; --pause cancels it, keeping its progress, and
--resume carries it on).

Default (shadow): a new generation is built into new tables beside the live one, which keeps
serving and updating; indexes are built after the bulk load; the swap is one transaction; the old
generation's tables, consumer group and cached entries are then dropped.
--in-place: for when disk is short: the live generation stops, its offsets are reset to zero in
Kafka and Postgres, its tables are emptied and replayed (the API serves partial data meanwhile).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] == identifiers.Name {
				return rebuildIdentifiers(cmd, cfg, log, inPlace, noWait, pause, resume)
			}
			if args[0] != projections.TrackDetailsName {
				return fmt.Errorf("unknown read model %q (known: %s, %s)", args[0], projections.TrackDetailsName, identifiers.Name)
			}
			return with(cmd, func(store *projectionpg.TrackDetails, rb *projections.Rebuilder) error {
				ctx := cmd.Context()
				switch {
				case pause:
					g, err := rb.Pause(ctx)
					if err == nil {
						fmt.Fprintf(cmd.OutOrStdout(), "rebuild of generation %d paused; --resume carries it on\n", g.Number)
					}
					return err
				case resume:
					if _, err := rb.Resume(ctx); err != nil {
						return err
					}
				default:
					g, err := rb.Start(ctx, inPlace)
					switch {
					case errors.Is(err, projections.ErrRebuildRunning):
						fmt.Fprintln(cmd.ErrOrStderr(), "a rebuild is under way; attaching to it")
					case err != nil:
						return err
					default:
						fmt.Fprintf(cmd.ErrOrStderr(), "rebuilding %s into generation %d (%s)\n", projections.TrackDetailsName, g.Number, g.Mode)
					}
				}
				if noWait {
					return nil
				}
				return watchRebuild(ctx, rb, cmd.ErrOrStderr(), cmd.OutOrStdout())
			})
		},
	}
	rebuild.Flags().BoolVar(&inPlace, "in-place", false, "rebuild the live generation in place (downtime; for when disk is short)")
	rebuild.Flags().BoolVar(&noWait, "no-wait", false, "start and return; the projectors carry on and `rebuild` again finishes it")
	rebuild.Flags().BoolVar(&pause, "pause", false, "cancel the rebuild under way, keeping its progress")
	rebuild.Flags().BoolVar(&resume, "resume", false, "resume a paused rebuild")

	parked := &cobra.Command{
		Use:   "parked",
		Short: "List parked (poison) events and the events waiting behind them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return with(cmd, func(store *projectionpg.TrackDetails, _ *projections.Rebuilder) error {
				list, err := store.ListParked(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(list)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tGEN\tAT\tRELEASE\tTYPE\tBEHIND\tREASON")
				for _, p := range list {
					behind := "-"
					if p.Behind != nil {
						behind = strconv.FormatInt(*p.Behind, 10)
					}
					fmt.Fprintf(w, "%d\t%d\t%s/%d@%d\t%s\t%s\t%s\t%s\n", p.ID, p.Generation, p.Topic, p.Partition, p.Offset, p.Key, p.Type, behind, p.Reason)
				}
				return w.Flush()
			})
		},
	}
	parked.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var payload string
	retry := &cobra.Command{
		Use:   "retry ID",
		Short: "Apply a parked event (the first of its release) and the events behind it, in order",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parkedID(args[0])
			if err != nil {
				return err
			}
			return with(cmd, func(store *projectionpg.TrackDetails, _ *projections.Rebuilder) error {
				if payload != "" {
					b, err := os.ReadFile(payload)
					if err != nil {
						return err
					}
					if err := store.ReplacePayload(cmd.Context(), id, b); err != nil {
						return err
					}
				}
				n, err := store.Retry(cmd.Context(), id)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "%d events applied\n", n)
				}
				return err
			})
		},
	}
	retry.Flags().StringVar(&payload, "payload", "", "replace the parked event's payload with this file's content first (a repaired event)")
	skip := &cobra.Command{
		Use:   "skip ID",
		Short: "Drop a parked event for good and apply the events behind it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parkedID(args[0])
			if err != nil {
				return err
			}
			return with(cmd, func(store *projectionpg.TrackDetails, _ *projections.Rebuilder) error {
				n, err := store.Skip(cmd.Context(), id)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "skipped; %d events behind it applied\n", n)
				}
				return err
			})
		},
	}
	var hashGen int
	hash := &cobra.Command{
		Use:   "hash [track-details|identifiers]",
		Short: "Print a content hash of a generation of the read model (default: the live one)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 && args[0] == identifiers.Name {
				h, err := identifiersHash(cmd.Context(), cfg, hashGen)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), h)
				}
				return err
			}
			if len(args) == 1 && args[0] != projections.TrackDetailsName {
				return fmt.Errorf("unknown read model %q (known: %s, %s)", args[0], projections.TrackDetailsName, identifiers.Name)
			}
			return with(cmd, func(store *projectionpg.TrackDetails, _ *projections.Rebuilder) error {
				gen := hashGen
				if gen == 0 {
					g, err := store.EnsureLive(cmd.Context())
					if err != nil {
						return err
					}
					gen = g.Number
				}
				h, err := store.Hash(cmd.Context(), gen)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), h)
				}
				return err
			})
		},
	}
	hash.Flags().IntVar(&hashGen, "generation", 0, "generation to hash")
	cmd.AddCommand(statusCmd, rebuild, parked, retry, skip, hash)
	return cmd
}

func parkedID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parked event ID %q: %w", s, err)
	}
	return id, nil
}

func watchRebuild(ctx context.Context, rb *projections.Rebuilder, progressOut, out io.Writer) error {
	var bar *progressbar.ProgressBar
	g, err := rb.Run(ctx, 500*time.Millisecond, func(p projections.Progress) {
		if bar == nil && p.Total > 0 {
			bar = progressbar.NewOptions64(p.Total, progressbar.OptionSetWriter(progressOut), progressbar.OptionSetDescription("rebuilding"),
				progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetItsString("events"),
				progressbar.OptionSetPredictTime(true), progressbar.OptionThrottle(200*time.Millisecond))
		}
		if bar != nil {
			_ = bar.Set64(p.Done)
		}
	})
	if bar != nil {
		_ = bar.Finish()
		fmt.Fprintln(progressOut)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "generation %d is %s\n", g.Number, g.State)
	return nil
}

func printStatus(w io.Writer, st status, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(st)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, g := range st.Generations {
		fmt.Fprintf(tw, "%s generation %d (%s, layout %d): lag %d events, %d parked\n", projections.TrackDetailsName, g.Number, g.State, g.Layout, g.Lag, g.Parked)
		fmt.Fprintln(tw, "  PARTITION\tSTORED\tEND\tLAG\tAPPLIED\tSTALE")
		for _, p := range g.Partitions {
			fmt.Fprintf(tw, "  %s/%d\t%d\t%d\t%d\t%d\t%d\n", p.Topic, p.Partition, p.Next, p.End, p.End-p.Next, p.Applied, p.Stale)
		}
	}
	if r := st.Rebuild; r != nil {
		fmt.Fprintf(tw, "rebuild: generation %d (%s, %s): %d of %d events", r.Generation.Number, r.Generation.Mode, r.Phase, r.Done, r.Total)
		if r.Rate > 0 {
			fmt.Fprintf(tw, ", %.0f events/s, ETA %s", r.Rate, time.Duration(r.ETASeconds*float64(time.Second)).Round(time.Second))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

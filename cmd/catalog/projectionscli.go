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

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projector"
)

func projectionsCommand(cfg config, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "projections", Short: "Operate read models: status, rebuilds, parked events, content hashes",
		Long: "Operate the registered projections (read models): " + projector.Names(registered(nil)) + "."}
	// with runs fn on the machinery of the projections named (every
	// registered one when none is).
	with := func(cmd *cobra.Command, names []string, fn func([]*projector.Projector) error) error {
		if _, err := projector.Select(registered(nil), names); err != nil {
			return err
		}
		return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
			if err := projectionpg.Migrate(cmd.Context(), pool); err != nil {
				return err
			}
			cache, err := newCache(cfg, nil, writerCacheTimeout)
			if err != nil {
				return err
			}
			if cache != nil {
				defer cache.Close()
			}
			admin, err := events.NewAdmin(cmd.Context(), cfg.kafka("catalog-projections-cli"))
			if err != nil {
				return err
			}
			defer admin.Close()
			ps, err := newProjectors(cfg, log, pool, admin, cache, names)
			if err != nil {
				return err
			}
			return fn(ps)
		})
	}
	// withOne runs fn on the machinery of the projection named.
	withOne := func(cmd *cobra.Command, name string, fn func(*projector.Projector) error) error {
		return with(cmd, []string{name}, func(ps []*projector.Projector) error { return fn(ps[0]) })
	}

	var asJSON bool
	statusCmd := &cobra.Command{
		Use:   "status [NAME]",
		Short: "Generations, per-partition positions and lag, parked events, rebuild progress (every projection without NAME)",
		Long: `Prints each projection's generations, per-partition positions and lag, parked events and
rebuild progress. With NAME, that projection's; without, every registered projection's.
--json prints one object for NAME, else an array of them, one per projection.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return with(cmd, args, func(ps []*projector.Projector) error {
				var all []projector.Status
				for _, p := range ps {
					st, err := p.Status(cmd.Context())
					if err != nil {
						return fmt.Errorf("status of %s: %w", p.Name(), err)
					}
					all = append(all, st)
				}
				if asJSON && len(args) == 1 {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(all[0])
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(all)
				}
				for _, st := range all {
					if err := printStatus(cmd.OutOrStdout(), st); err != nil {
						return err
					}
				}
				return nil
			})
		},
	}
	statusCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var inPlace, noWait, pause, resume bool
	rebuild := &cobra.Command{
		Use:   "rebuild NAME",
		Short: "Rebuild the read model from offset zero (zero downtime unless --in-place), with progress",
		Long: `Starts a rebuild of the read model NAME from offset zero of every partition, or
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
			return withOne(cmd, args[0], func(p *projector.Projector) error {
				ctx, rb := cmd.Context(), p.Rebuilder()
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
						fmt.Fprintf(cmd.ErrOrStderr(), "rebuilding %s into generation %d (%s)\n", p.Name(), g.Number, g.Mode)
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
		Use:   "parked NAME",
		Short: "List a projection's parked (poison) events and the events waiting behind them",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOne(cmd, args[0], func(p *projector.Projector) error {
				list, err := p.Store().ListParked(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(list)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ID\tGEN\tAT\tRELEASE\tTYPE\tBEHIND\tREASON")
				for _, e := range list {
					behind := "-"
					if e.Behind != nil {
						behind = strconv.FormatInt(*e.Behind, 10)
					}
					fmt.Fprintf(w, "%d\t%d\t%s/%d@%d\t%s\t%s\t%s\t%s\n", e.ID, e.Generation, e.Topic, e.Partition, e.Offset, e.Key, e.Type, behind, e.Reason)
				}
				return w.Flush()
			})
		},
	}
	parked.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var payload string
	retry := &cobra.Command{
		Use:   "retry NAME ID",
		Short: "Apply a parked event (the first of its release) and the events behind it, in order",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parkedID(args[1])
			if err != nil {
				return err
			}
			return withOne(cmd, args[0], func(p *projector.Projector) error {
				store := p.Store()
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
		Use:   "skip NAME ID",
		Short: "Drop a parked event for good and apply the events behind it",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parkedID(args[1])
			if err != nil {
				return err
			}
			return withOne(cmd, args[0], func(p *projector.Projector) error {
				store := p.Store()
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
		Use:   "hash NAME",
		Short: "Print a content hash of a generation of the read model NAME (default: the live one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withOne(cmd, args[0], func(p *projector.Projector) error {
				h, err := p.Hash(cmd.Context(), hashGen)
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), h)
				}
				return err
			})
		},
	}
	hash.Flags().IntVar(&hashGen, "generation", 0, "generation to hash")
	list := &cobra.Command{
		Use:   "list",
		Short: "Print the names of the registered projections, one a line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, p := range registered(nil) {
				fmt.Fprintln(cmd.OutOrStdout(), p.Name)
			}
			return nil
		},
	}
	cmd.AddCommand(statusCmd, rebuild, parked, retry, skip, hash, list)
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
	g, err := rb.Run(ctx, 100*time.Millisecond, func(p projections.Progress) {
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

func printStatus(w io.Writer, st projector.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, g := range st.Generations {
		fmt.Fprintf(tw, "%s generation %d (%s, layout %d): lag %d events, %d parked\n", st.Projection, g.Number, g.State, g.Layout, g.Lag, g.Parked)
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

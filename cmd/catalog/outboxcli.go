package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/events/eventpg"
)

func outboxCommand(cfg config, _ *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "Inspect ingest's outbox and clear rows Kafka refused (blocked rows)"}
	withPool := func(cmd *cobra.Command, fn func(*pgxpool.Pool) error) error {
		return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
			if err := eventpg.MigrateOutbox(cmd.Context(), pool); err != nil {
				return err
			}
			return fn(pool)
		})
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Rows pending, blocked and held behind a blocked row, and the oldest pending row's age",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPool(cmd, func(pool *pgxpool.Pool) error {
				st, err := eventpg.ReadStats(cmd.Context(), pool)
				if err != nil {
					return err
				}
				if asJSON {
					return json.NewEncoder(cmd.OutOrStdout()).Encode(st)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "pending %d, blocked %d, held behind a blocked row %d, oldest pending %s\n",
					st.Pending, st.Blocked, st.Held, st.Oldest.Round(time.Millisecond))
				return nil
			})
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print one JSON document")
	blocked := &cobra.Command{
		Use:   "blocked",
		Short: "List the blocked rows: each holds back its release's later events until cleared",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withPool(cmd, func(pool *pgxpool.Pool) error {
				rows, err := eventpg.BlockedRows(cmd.Context(), pool)
				if err != nil {
					return err
				}
				if asJSON {
					if rows == nil {
						rows = []eventpg.BlockedRow{}
					}
					return json.NewEncoder(cmd.OutOrStdout()).Encode(rows)
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "ROW\tRELEASE\tSEQUENCE\tTYPE\tBYTES\tHELD\tBLOCKED AT\tREASON")
				for _, b := range rows {
					fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", b.ID, b.Key, b.Sequence, b.Type, b.Bytes, b.Held,
						b.BlockedAt.UTC().Format(time.RFC3339), b.Reason)
				}
				return w.Flush()
			})
		},
	}
	blocked.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	unblock := &cobra.Command{
		Use:   "unblock ROW",
		Short: "Clear a blocked row so the relay sends it again (after the limit that refused it was fixed)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("ROW must be an outbox row id (a number), got %q", args[0])
			}
			return withPool(cmd, func(pool *pgxpool.Pool) error {
				b, err := eventpg.Unblock(cmd.Context(), pool, id)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "row %d (release %s, sequence %s) unblocked; the relay sends it and the %d row(s) behind it, or blocks it again if Kafka still refuses it\n",
					b.ID, b.Key, b.Sequence, b.Held)
				return nil
			})
		},
	}
	cmd.AddCommand(status, blocked, unblock)
	return cmd
}

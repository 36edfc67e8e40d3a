package main

import (
	"fmt"
	"log/slog"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/gateway/gatewaypg"
)

func clientsCommand(cfg config, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage API clients (consumer keys)"}
	withStore := func(cmd *cobra.Command, fn func(*gatewaypg.Store) error) error {
		return withPostgres(cmd.Context(), cfg, func(pool *pgxpool.Pool) error {
			if err := gatewaypg.Migrate(cmd.Context(), pool); err != nil {
				return err
			}
			s, err := gatewaypg.New(pool, log)
			if err != nil {
				return err
			}
			return fn(s)
		})
	}
	var key string
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Register a client and print its key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				k := key
				if k == "" {
					k = gatewaypg.NewKey()
				}
				if err := s.Add(cmd.Context(), k, args[0]); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), k)
				return nil
			})
		},
	}
	add.Flags().StringVar(&key, "key", "", "use this key instead of a generated one")
	list := &cobra.Command{
		Use:   "list",
		Short: "List clients",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				cs, err := s.List(cmd.Context())
				if err != nil {
					return err
				}
				w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(w, "KEY\tNAME\tENABLED")
				for _, c := range cs {
					fmt.Fprintf(w, "%s\t%s\t%t\n", c.Key, c.Name, c.Enabled)
				}
				return w.Flush()
			})
		},
	}
	cmd.AddCommand(add, list)
	return cmd
}

package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
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
	var parties []string
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
				if err := s.Add(cmd.Context(), k, args[0], parties...); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), k)
				return nil
			})
		},
	}
	add.Flags().StringVar(&key, "key", "", "use this key instead of a generated one")
	add.Flags().StringSliceVar(&parties, "party", nil, "a DDEX party id (DPID) the client may deliver as through the ingest service (repeatable; '*': any party)")
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
				fmt.Fprintln(w, "KEY\tNAME\tENABLED\tDAILY LIMIT\tSERVICES\tPARTIES")
				for _, c := range cs {
					ps := strings.Join(c.Parties, ",")
					if ps == "" {
						ps = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%t\t%d\t%s\t%s\n", c.Key, c.Name, c.Enabled, c.DailyLimit, strings.Join(c.Services, ","), ps)
				}
				return w.Flush()
			})
		},
	}
	keyed := func(use, short string, nargs int, fn func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: cobra.ExactArgs(nargs), RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				if err := fn(cmd, s, args); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok (gateways pick the change up within", cfg.ClientsReload.String()+")")
				return nil
			})
		}}
	}
	setLimit := keyed("set-limit KEY N", "Set a client's daily request limit", 2, func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error {
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return fmt.Errorf("limit %q: %w", args[1], err)
		}
		return s.SetLimit(cmd.Context(), args[0], n)
	})
	grant := keyed("grant KEY SERVICE", "Grant a service (catalogue, identifiers, ingest, admin)", 2, func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error {
		return s.Grant(cmd.Context(), args[0], args[1])
	})
	revoke := keyed("revoke KEY SERVICE", "Revoke a service", 2, func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error {
		return s.Revoke(cmd.Context(), args[0], args[1])
	})
	setParties := &cobra.Command{
		Use:   "parties KEY DPID...",
		Short: "Set the DDEX parties a client may deliver as through the ingest service ('*': any party)",
		Long: `Replace the DDEX party ids (DPIDs) the client may deliver as. Through the gateway, a
delivery's MessageSender and SentOnBehalfOf must each be one of them, else ingest answers 403.
'*' alone lets the client deliver as any party (an operator's or an aggregator's key). A client
granted ingest but bound to no party may not deliver through the gateway at all.`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				if err := s.SetParties(cmd.Context(), args[0], args[1:]); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok (gateways pick the change up within", cfg.ClientsReload.String()+")")
				return nil
			})
		},
	}
	disable := keyed("disable KEY", "Disable a client (its key gets 401)", 1, func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error {
		return s.SetEnabled(cmd.Context(), args[0], false)
	})
	enable := keyed("enable KEY", "Enable a disabled client", 1, func(cmd *cobra.Command, s *gatewaypg.Store, args []string) error {
		return s.SetEnabled(cmd.Context(), args[0], true)
	})
	cmd.AddCommand(add, list, setLimit, grant, revoke, setParties, disable, enable)
	return cmd
}

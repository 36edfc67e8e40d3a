package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/api/apiroutes"
	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
)

// errRegionalClients refuses a change of API clients outside the central
// region.
func errRegionalClients(cfg config, what string) error {
	return fmt.Errorf("clients %s: this process serves the %s region (CATALOG_REGION), whose clients are a read-only copy "+
		"replicated from the %s region's PostgreSQL: run it with CATALOG_REGION=%s against the central database (CATALOG_PG_URL)",
		what, cfg.Region, gateway.Central, gateway.Central)
}

func clientsCommand(cfg config, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "clients", Short: "Manage API clients (consumer keys)"}
	// withStore runs fn on the clients store; every command but list and
	// show changes clients, which only the central region may do.
	withStore := func(cmd *cobra.Command, fn func(*gatewaypg.Store) error) error {
		if n := cmd.Name(); n != "list" && n != "show" && cfg.Region != gateway.Central {
			return errRegionalClients(cfg, n)
		}
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
				fmt.Fprintln(w, "KEY\tNAME\tENABLED\tDAILY LIMIT\tSERVICES\tPARTIES\tPINS")
				for _, c := range cs {
					ps := strings.Join(c.Parties, ",")
					if ps == "" {
						ps = "-"
					}
					fmt.Fprintf(w, "%s\t%s\t%t\t%d\t%s\t%s\t%s\n", c.Key, c.Name, c.Enabled, c.DailyLimit, strings.Join(c.Services, ","), ps, pinsText(c.Pins))
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
	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Show a client, its pins and each region's part of its daily limit",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				c, err := s.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				printClient(cmd.OutOrStdout(), c)
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, show, setLimit, grant, revoke, setParties, disable, enable,
		pinCommand(cfg, withStore), unpinCommand(cfg, withStore))
	cmd.AddCommand(replicationCommands(cfg, log)...)
	return cmd
}

// pinsText is a client's pins on one line: REGION for all its routes,
// ROUTE=REGION for a route, with the share of the daily limit when one is
// named; "-" for none.
func pinsText(pins []gateway.Pin) string {
	var parts []string
	for _, p := range pins {
		s := p.Region
		if p.Route != "" {
			s = p.Route + "=" + p.Region
		}
		if p.Share > 0 {
			s += fmt.Sprintf("(%d%%)", p.Share)
		}
		parts = append(parts, s)
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// printClient writes one client as name: value lines, with the region
// serving each API endpoint and each serving region's part of the limit.
func printClient(w io.Writer, c gateway.Client) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ps := strings.Join(c.Parties, ",")
	if ps == "" {
		ps = "-"
	}
	fmt.Fprintf(tw, "key:\t%s\nname:\t%s\nenabled:\t%t\ndaily limit:\t%d\nservices:\t%s\nparties:\t%s\npins:\t%s\n",
		c.Key, c.Name, c.Enabled, c.DailyLimit, strings.Join(c.Services, ","), ps, pinsText(c.Pins))
	regions := map[string]bool{}
	for _, r := range apiroutes.Public() {
		if r.Path != r.Endpoint {
			continue
		}
		home := c.Home(r.Endpoint)
		regions[home] = true
		fmt.Fprintf(tw, "serves %s:\t%s\n", r.Endpoint, home)
	}
	if c.Allowed(gateway.ServiceIngest) || c.Allowed(gateway.ServiceAdmin) {
		regions[gateway.Central] = true
	}
	for _, name := range slices.Sorted(maps.Keys(regions)) {
		fmt.Fprintf(tw, "daily limit in %s:\t%d\n", name, c.DailyLimitIn(name))
	}
	_ = tw.Flush()
}

// pinCommand is `catalog clients pin`.
func pinCommand(cfg config, withStore func(*cobra.Command, func(*gatewaypg.Store) error) error) *cobra.Command {
	var routes []string
	var share int
	pin := &cobra.Command{
		Use:   "pin KEY REGION",
		Short: "Home a client's API requests (all, or those under --route) in a region",
		Long: `Home the client's API requests in REGION: all of them, or, with --route, those of the API
endpoints under each route prefix (/track/details covers /1.2/track/details and
/track/details/isrc). A request goes to the region of the most specific pin covering it, else to
the central region. A gateway serves only the requests homed in its region and answers the others
307 to the home region's gateway (CATALOG_REGION_URLS), or 421 when it does not know that URL.

Each region counts its own part of the client's daily limit: all of it when one region serves
the client; when pins split it, --share names the percentage REGION counts (for all the client's
pins to REGION), and the regions without a share split what is left equally. Shares add up to at
most 100.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(s *gatewaypg.Store) error {
				if err := s.Pin(cmd.Context(), args[0], args[1], routes, share); err != nil {
					return err
				}
				if _, ok := cfg.RegionURLs[args[1]]; !ok {
					fmt.Fprintf(cmd.ErrOrStderr(), "warning: CATALOG_REGION_URLS names no gateway URL for region %s here; "+
						"a gateway that does not know it answers this client's requests for it 421\n", args[1])
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok (gateways pick the change up within", cfg.ClientsReload.String()+")")
				return nil
			})
		},
	}
	pin.Flags().StringSliceVar(&routes, "route", nil, "an API route prefix to pin, such as /track/details (repeatable; none: every route)")
	pin.Flags().IntVar(&share, "share", 0, "the percentage (1 to 100) of the client's daily limit REGION counts when pins split the client")
	return pin
}

// unpinCommand is `catalog clients unpin`.
func unpinCommand(cfg config, withStore func(*cobra.Command, func(*gatewaypg.Store) error) error) *cobra.Command {
	var routes []string
	var all bool
	unpin := &cobra.Command{
		Use:   "unpin KEY",
		Short: "Remove a client's pin of all its routes, or of each --route, or --all its pins",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if all && len(routes) > 0 {
				return errors.New("clients unpin: --all removes every pin; name no --route with it")
			}
			return withStore(cmd, func(s *gatewaypg.Store) error {
				if err := s.Unpin(cmd.Context(), args[0], routes, all); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "ok (gateways pick the change up within", cfg.ClientsReload.String()+")")
				return nil
			})
		},
	}
	unpin.Flags().StringSliceVar(&routes, "route", nil, "a pinned route prefix to unpin (repeatable; none: the pin of every route)")
	unpin.Flags().BoolVar(&all, "all", false, "remove every pin of the client")
	return unpin
}

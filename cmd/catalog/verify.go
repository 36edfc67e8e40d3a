package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/projections/identifiers/identifierspg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/verify"
)

// exitError carries the exit status a command asks for.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// ExitCode is the process's exit status.
func (e exitError) ExitCode() int { return e.code }

// The exit statuses of catalog verify.
const (
	verifyDiverged = 1
	verifyFailed   = 2
)

// verifyOptions are catalog verify's flags.
type verifyOptions struct {
	wait        time.Duration
	territories string
	sample      string
	seed        uint64
	concurrency int
	gatewayURL  string
	key         string
	client      string
	layers      string
	asJSON      bool
	maxLines    int
}

func verifyCommand(cfg config, log *slog.Logger) *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check that the read model, the Redis entries and the API serve exactly what the log says",
		Long: `Folds the whole releases topic from offset zero, with the domain's own rules and none of the
projector's code, into the answer track/details must give for every track in every territory that
matters, waits until the live read-model generation has applied the log up to the end offsets taken
at the start, and compares:

  postgres  every track row of the live generation (the set of rows, and each track as the read
            model's row reader answers it, which is what the API falls back to)
  redis     every hot entry of the live generation a reader would be served
  api       track/details through the gateway (JSON, all usage types), on a seeded sample of
            (track, territory) pairs, or every one with --sample all
  identifiers
            every look-up of the identifiers read model's live generation: each ISRC's tracks,
            each barcode's (GTIN-14) and GRid's release and tracklist, each party's releases

Each difference is printed as one line (layer, track, release, territory, field, expected,
served; the identifiers layer names the look-up key instead of a territory), then a summary. Exit status: 0 when nothing diverges, 1 when something does, 2 when the
check could not conclude (a service unreachable, the read model not caught up within --wait, the
gateway refusing the key, the log moving during a check that found divergences).

Territories that matter for a release: every one its deals name, and one they name nowhere.
The api layer's requests count against the key's daily limit. Without --key, the key of the
client named by --client (the demo client of make run by default) is used.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			err := runVerify(cmd.Context(), cfg, log.With("command", "verify"), o, cmd.OutOrStdout())
			var ee exitError
			if err != nil && !errors.As(err, &ee) {
				err = exitError{verifyFailed, err}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.DurationVar(&o.wait, "wait", time.Minute, "how long to wait for the live generation to apply the log (at most 1h)")
	f.StringVar(&o.territories, "territories", "matter", "territories compared per track: matter (named by its deals, plus one named nowhere) or all (249)")
	f.StringVar(&o.sample, "sample", "200", "track/details requests the api layer makes, or all (every live track in every territory compared)")
	f.Uint64Var(&o.seed, "seed", 1, "seed of the api sample and of each release's unnamed territory")
	f.IntVar(&o.concurrency, "concurrency", 8, "reads and requests in flight per layer (1 to 256)")
	f.StringVar(&o.gatewayURL, "gateway", "", "the gateway's URL (default http:// + CATALOG_GATEWAY_ADDR)")
	f.StringVar(&o.key, "key", "", "consumer key for the api layer (default: the key of --client)")
	f.StringVar(&o.client, "client", "demo", "API client whose key the api layer uses when --key is not given")
	f.StringVar(&o.layers, "layers", "postgres,redis,api,identifiers", "layers to compare (postgres is always compared)")
	f.BoolVar(&o.asJSON, "json", false, "print the report as one JSON document")
	f.IntVar(&o.maxLines, "max-lines", 1000, "divergence lines printed at most (0: all; the count is always exact)")
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exitError{verifyFailed, err} })
	return cmd
}

func runVerify(ctx context.Context, cfg config, log *slog.Logger, o verifyOptions, out io.Writer) error {
	vc := verify.Config{Topic: cfg.releasesTopic(), Wait: o.wait, Seed: o.seed, Concurrency: o.concurrency}
	switch o.territories {
	case "matter":
	case "all":
		vc.AllTerritories = true
	default:
		return fmt.Errorf("--territories %q: want matter or all", o.territories)
	}
	if o.sample == "all" {
		vc.Sample = verify.SampleAll
	} else if n, err := strconv.Atoi(o.sample); err != nil || n < 1 || n > 10_000_000 {
		return fmt.Errorf("--sample %q: want a number from 1 to 10000000, or all", o.sample)
	} else {
		vc.Sample = n
	}
	if o.concurrency < 1 || o.concurrency > verify.MaxConcurrency {
		return fmt.Errorf("--concurrency %d: want 1 to %d", o.concurrency, verify.MaxConcurrency)
	}
	if o.maxLines < 0 {
		return fmt.Errorf("--max-lines %d: want 0 or more", o.maxLines)
	}
	want := map[string]bool{}
	for _, l := range strings.Split(o.layers, ",") {
		switch l = strings.TrimSpace(l); l {
		case verify.LayerPostgres, verify.LayerRedis, verify.LayerAPI, verify.LayerIdentifiers:
			want[l] = true
		case "":
		default:
			return fmt.Errorf("--layers: unknown layer %q (postgres, redis, api, identifiers)", l)
		}
	}

	lg, err := events.NewLogReader(cfg.kafka("catalog-verify"))
	if err != nil {
		return err
	}
	defer lg.Close()
	return withPostgres(ctx, cfg, func(pool *pgxpool.Pool) error {
		store, err := trackdetailspg.New(pool)
		if err != nil {
			return err
		}
		layers := verify.Layers{ReadModel: store}
		if want[verify.LayerRedis] && cfg.Redis != nil {
			cache, err := projectionredis.New(projectionredis.Config{Conn: cfg.Redis, Prefix: cfg.RedisPrefix, Timeout: 500 * time.Millisecond})
			if err != nil {
				return err
			}
			defer cache.Close()
			layers.Cache = cache
		}
		if want[verify.LayerIdentifiers] {
			idf, err := identifierspg.New(pool)
			if err != nil {
				return err
			}
			layers.Identifiers = idf
		}
		if want[verify.LayerAPI] {
			gw, err := verifyGateway(ctx, cfg, log, pool, o)
			if err != nil {
				return err
			}
			layers.API = gw
		}
		rep, err := verify.Run(ctx, vc, lg, layers, log)
		if rep != nil {
			var werr error
			if o.asJSON {
				werr = rep.WriteJSON(out)
			} else {
				werr = rep.WriteText(out, o.maxLines)
			}
			if err == nil {
				err = werr
			}
		}
		if err != nil {
			return err
		}
		if n := len(rep.Divergences); n > 0 {
			return exitError{verifyDiverged, fmt.Errorf("verify: %d divergences", n)}
		}
		return nil
	})
}

// verifyGateway builds the api layer's client: the gateway's URL and the
// key given, or the key of the named client.
func verifyGateway(ctx context.Context, cfg config, log *slog.Logger, pool *pgxpool.Pool, o verifyOptions) (*verify.Gateway, error) {
	base := o.gatewayURL
	if base == "" {
		base = "http://" + cfg.GatewayAddr
	}
	key := o.key
	if key == "" {
		clients, err := gatewaypg.New(pool, log)
		if err != nil {
			return nil, err
		}
		c, ok, err := clients.ByName(ctx, o.client)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("no enabled API client named %q for the api layer: give --key, --client, or --layers postgres,redis", o.client)
		}
		key = c.Key
	}
	return verify.NewGateway(base, key, nil)
}

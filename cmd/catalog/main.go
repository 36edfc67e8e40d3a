// Command catalog runs every role of the catalog platform: ingest, the
// projector, the catalogue API, the gateway, and the operator commands.
// `catalog dev` runs all roles in one process for local use. This is the
// only composition root: configuration is read from the environment here
// and nowhere else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "catalog:", err)
		code := 1
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			code = ec.ExitCode()
		}
		os.Exit(code)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// A bad setting stops every command but help and version, which say
	// what is wrong instead.
	cfg, cfgErr := loadConfig(os.Getenv)
	log := newLogger(cfg, stderr)
	root := &cobra.Command{
		Use:           "catalog",
		Short:         "An event-sourced music catalogue: ingest, projections, the catalogue API and its gateway",
		Long:          rootHelp(cfgErr),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var cpuProfile string
	root.PersistentFlags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the whole command to this file (go tool pprof reads it)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		if cfgErr != nil && cmd.Name() != "version" {
			return cfgErr
		}
		if cpuProfile == "" {
			return nil
		}
		f, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		return pprof.StartCPUProfile(f)
	}
	defer func() {
		if cpuProfile != "" {
			pprof.StopCPUProfile()
		}
	}()
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		devCommand(cfg, log),
		ingestCommand(cfg, log),
		roleCommand("project", "Run the track-details projector (Kafka -> Postgres read model), its metrics and admin API", cfg, log, runProjectorRole),
		projectionsCommand(cfg, log),
		roleCommand("api", "Serve the catalogue API (7digital track/details)", cfg, log, runAPIRole),
		roleCommand("gateway", "Serve the public gateway (client identity, proxy to the API)", cfg, log, runGatewayRole),
		roleCommand("cdn-purge", "Purge the CDN's surrogate keys after each committed change of a release", cfg, log, runCDNPurgeRole),
		cdnCommand(cfg, log),
		clientsCommand(cfg, log),
		eventsCommand(cfg, log),
		outboxCommand(cfg, log),
		genCommand(),
		verifyCommand(cfg, log),
		regionsCommand(cfg, log),
		versionCommand(),
		migrateCommand(cfg, log),
	)
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// rootHelp is `catalog --help`'s text: what catalog is, every setting
// with its default, and the error of the current environment's settings,
// if any.
func rootHelp(cfgErr error) string {
	var b strings.Builder
	b.WriteString("An event-sourced music catalogue: ingest, projections, the catalogue API and its gateway.\n\n")
	b.WriteString("Every role and command reads its settings from the environment (docs/operations.md):\n\n")
	writeSettings(&b)
	if cfgErr != nil {
		fmt.Fprintf(&b, "\nThe settings of this environment are wrong, so every command but help and version stops:\n  %v\n", cfgErr)
	}
	return b.String()
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(cfg.LogFormat, "json") {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func roleCommand(name, short string, cfg config, log *slog.Logger, fn func(context.Context, config, *slog.Logger) error) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := log.With("role", name)
			return withTracing(cmd.Context(), cfg, log, name, func(cfg config) error { return fn(cmd.Context(), cfg, log) })
		},
	}
}

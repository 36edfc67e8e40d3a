package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/regions"
)

// requireCentral refuses to run what only the central region runs: ingest
// is the one writer of the log of record, and a region is read-only.
func (c config) requireCentral(what string) error {
	if c.central() {
		return nil
	}
	return fmt.Errorf("CATALOG_REGION=%s: %s runs only in the %s region: it is the one writer of the log of record, and region %s is a read-only copy fed by MirrorMaker (deliver to the central ingest instead)",
		c.Region, what, centralRegion, c.Region)
}

// prepareTopics makes sure the topics a role reads exist. In the central
// region catalog owns its topics and creates them (with their retention and
// size settings). In any other region MirrorMaker owns the mirrored topics
// on the region's cluster, so the role creates and alters none of them: it
// waits until MirrorMaker has created them. local are per-cluster topics
// that are never mirrored (a parking topic), which the role creates itself
// in either case.
func prepareTopics(ctx context.Context, cfg config, admin *events.Admin, log *slog.Logger, local ...events.TopicSpec) error {
	if cfg.central() {
		return ensureTopics(ctx, admin, cfg, log)
	}
	log.Info("regional cluster: MirrorMaker owns the mirrored topics here; waiting for them instead of creating them",
		"region", cfg.Region, "topic", cfg.releasesTopic())
	if err := admin.AwaitTopics(ctx, []string{cfg.releasesTopic()}, log); err != nil {
		return err
	}
	if len(local) == 0 {
		return nil
	}
	return ensureTopics(ctx, admin, cfg, log, local...)
}

// mirrorSource is the central cluster's alias in deployments/regions/mm2.properties.
const mirrorSource = "central"

func regionsCommand(cfg config, _ *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "regions", Short: "Read-only regions fed from the central log by MirrorMaker 2"}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Per region: MirrorMaker's replication lag and the regional projectors' lag",
		Long: `Prints, for each region CATALOG_REGIONS names (NAME=BROKERS), MirrorMaker's lag per mirrored
partition (the central end offset against the source offset MirrorMaker has committed for it,
which it does every few seconds, and the age of the newest record in the region's copy) and the
lag of each regional projector consumer group against the copy's end offsets. It reads the
central cluster (CATALOG_KAFKA_BROKERS) and each region's cluster and changes nothing on either.
A region whose cluster cannot be read is reported with its error; the exit code is then 1.
--json prints an array with one object per region.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(cfg.Regions) == 0 {
				return errors.New("CATALOG_REGIONS is empty: name each region's Kafka, such as CATALOG_REGIONS=india=127.0.0.1:59192")
			}
			rs := make([]regions.Region, 0, len(cfg.Regions))
			for _, r := range cfg.Regions {
				rs = append(rs, regions.Region{Name: r.Name, Kafka: events.KafkaConfig{Brokers: r.Brokers, ClientID: "catalog-regions-status", TLS: cfg.KafkaTLS, SASL: cfg.KafkaSASL}})
			}
			sts, err := regions.Check(cmd.Context(), regions.Config{
				Central: cfg.kafka("catalog-regions-status"), SourceAlias: mirrorSource,
				TopicPrefix: cfg.TopicPrefix, GroupPrefix: cfg.GroupPrefix,
			}, rs, time.Now())
			if err != nil {
				return err
			}
			if asJSON {
				err = json.NewEncoder(cmd.OutOrStdout()).Encode(sts)
			} else {
				err = printRegions(cmd.OutOrStdout(), sts)
			}
			if err != nil {
				return err
			}
			for _, st := range sts {
				if st.Error != "" {
					return fmt.Errorf("region %s: %s", st.Region, st.Error)
				}
			}
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(status)
	return cmd
}

func printRegions(w io.Writer, sts []regions.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, st := range sts {
		if st.Error != "" {
			fmt.Fprintf(tw, "region %s: UNREACHABLE: %s\n", st.Region, st.Error)
			continue
		}
		fmt.Fprintf(tw, "region %s: MirrorMaker lag %d events\n", st.Region, st.MirrorLag)
		fmt.Fprintln(tw, "  MIRROR\tCENTRAL END\tCOPIED\tLAG\tMIRROR END\tNEWEST MIRRORED")
		for _, m := range st.Mirror {
			copied, newest := "-", "-"
			if m.Copied >= 0 {
				copied = strconv.FormatInt(m.Copied, 10)
			}
			if !m.NewestAt.IsZero() {
				newest = fmt.Sprintf("%s ago", time.Duration(m.NewestAgeSeconds*float64(time.Second)).Round(time.Second))
			}
			fmt.Fprintf(tw, "  %s/%d\t%d\t%s\t%d\t%d\t%s\n", m.Topic, m.Partition, m.CentralEnd, copied, m.Lag, m.MirrorEnd, newest)
		}
		fmt.Fprintln(tw, "  PROJECTOR\tGEN\tPARTITION\tCOMMITTED\tEND\tLAG")
		if len(st.Projectors) == 0 {
			fmt.Fprintln(tw, "  (no projector consumer group in the region yet)")
		}
		for _, p := range st.Projectors {
			committed := "-"
			if p.Committed >= 0 {
				committed = strconv.FormatInt(p.Committed, 10)
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s/%d\t%s\t%d\t%d\n", p.Projection, p.Generation, p.Topic, p.Partition, committed, p.End, p.Lag)
		}
	}
	return tw.Flush()
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/spf13/cobra"

	"github.com/catalog-org/catalog/events"
)

func eventsCommand(cfg config, log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "events", Short: "Read the event stream"}
	var fromBeginning, untilEnd bool
	var typ, rel string
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print events as JSON lines (one per event), following the stream",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return tailEvents(cmd.Context(), cfg, log, cmd.OutOrStdout(), fromBeginning, untilEnd, typ, rel)
		},
	}
	tail.Flags().BoolVar(&fromBeginning, "from-beginning", false, "start at offset zero instead of the end")
	tail.Flags().BoolVar(&untilEnd, "until-end", false, "stop once the end of the log as it was at start is reached")
	tail.Flags().StringVar(&typ, "type", "", "only events of this type (e.g. catalog.release.delivered)")
	tail.Flags().StringVar(&rel, "release", "", "only events of this release (its key: UPC, or GRid when it has none)")
	cmd.AddCommand(tail)
	return cmd
}

// tailLine is one printed event.
type tailLine struct {
	Topic         string          `json:"topic"`
	Partition     int32           `json:"partition"`
	Offset        int64           `json:"offset"`
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schemaVersion"`
	Subject       string          `json:"subject"`
	Sequence      int64           `json:"sequence"`
	Time          string          `json:"time"`
	Source        string          `json:"source"`
	Causation     string          `json:"causation,omitempty"`
	Data          json.RawMessage `json:"data"`
}

// tailEvents reads every partition of the releases topic with watermill's
// Kafka subscriber without a consumer group: it commits nothing and never
// disturbs the projectors' groups.
func tailEvents(ctx context.Context, cfg config, log *slog.Logger, w io.Writer, fromBeginning, untilEnd bool, typ, rel string) error {
	topic := cfg.releasesTopic()
	kc := cfg.kafka("catalog-events-tail")
	admin, err := events.NewAdmin(ctx, kc)
	if err != nil {
		return err
	}
	end, err := admin.HighWatermarks(ctx, topic)
	_ = admin.Close()
	if err != nil {
		return err
	}
	sc := kafka.DefaultSaramaSubscriberConfig()
	sc.Version = sarama.V3_6_0_0
	sc.ClientID = kc.ClientID
	kc.Secure(sc)
	sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	if fromBeginning {
		sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	}
	sub, err := kafka.NewSubscriber(kafka.SubscriberConfig{
		Brokers: kc.Brokers, Unmarshaler: kafka.DefaultMarshaler{}, OverwriteSaramaConfig: sc,
		DoNotWaitForTopicCreation: true,
	}, watermill.NewSlogLogger(log.With("component", "events-tail")))
	if err != nil {
		return fmt.Errorf("kafka subscriber: %w", err)
	}
	defer sub.Close()

	remaining := map[int32]bool{}
	for p, off := range end {
		if off > 0 && fromBeginning {
			remaining[p] = true
		}
	}
	if untilEnd && len(remaining) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	if err != nil {
		return fmt.Errorf("subscribe %s: %w", topic, err)
	}
	enc := json.NewEncoder(w)
	for m := range msgs {
		p, _ := kafka.MessagePartitionFromCtx(m.Context())
		off, _ := kafka.MessagePartitionOffsetFromCtx(m.Context())
		m.Ack()
		headers := map[string]string(m.Metadata)
		env, err := events.Decode(headers, m.Payload)
		if err != nil {
			log.Warn("not a catalog event", "partition", p, "offset", off, "err", err)
		} else if (typ == "" || env.Type == typ) && (rel == "" || env.Subject == rel) {
			line := tailLine{Topic: topic, Partition: p, Offset: off, ID: env.ID.String(), Type: env.Type, SchemaVersion: env.SchemaVersion,
				Subject: env.Subject, Sequence: env.Sequence, Time: env.Time.Format("2006-01-02T15:04:05.999999999Z07:00"),
				Source: env.Source, Causation: env.CausationID, Data: env.Data}
			if err := enc.Encode(line); err != nil {
				return err
			}
		}
		if untilEnd && off+1 >= end[p] {
			delete(remaining, p)
			if len(remaining) == 0 {
				return nil
			}
		}
	}
	return nil
}

package cdnpurge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/catalog-org/catalog/events"
)

// PoisonConfig locates the poison topic and the consumer group that
// remembers which of its purges were sent again.
type PoisonConfig struct {
	// Kafka locates the cluster (brokers, TLS, SASL).
	Kafka events.KafkaConfig
	// Topic is the purger's Config.PoisonTopic.
	Topic string
	// Group is the group whose committed offsets mark the poisoned purges
	// already re-sent (the purger's group + ".resend").
	Group string
}

// Poisoned is a purge that failed past the retry bound and has not been
// re-sent yet.
type Poisoned struct {
	// Partition and Offset locate it in the poison topic.
	Partition int32
	Offset    int64
	// Keys are the surrogate keys owed.
	Keys []string
	// Source is the event's topic/partition@offset, Event its type and id.
	Source, Event string
	// Reason is the last error.
	Reason string
	// At is when it was poisoned.
	At time.Time
}

// ListPoisoned returns the poisoned purges not re-sent yet, in partition
// and offset order.
func ListPoisoned(ctx context.Context, cfg PoisonConfig) ([]Poisoned, error) {
	var out []Poisoned
	err := scanPoisoned(ctx, cfg, func(p Poisoned, _ func() error) error {
		out = append(out, p)
		return nil
	})
	return out, err
}

// Resend sends the poisoned purges not re-sent yet, in order, marking each
// as re-sent once the endpoint accepted it. It stops at the first failure
// (that one and those after it stay listed) and returns how many it sent.
// The read model committed each change before its purge was first tried,
// so a re-send needs no wait.
func Resend(ctx context.Context, cfg PoisonConfig, purge Purge) (int, error) {
	sent := 0
	err := scanPoisoned(ctx, cfg, func(p Poisoned, done func() error) error {
		if err := purge.Purge(ctx, p.Keys); err != nil {
			return fmt.Errorf("re-send %s/%d@%d: %w", cfg.Topic, p.Partition, p.Offset, err)
		}
		sent++
		return done()
	})
	return sent, err
}

// scanPoisoned calls fn for each record of the poison topic past the
// group's committed offset; done marks the record as handled.
func scanPoisoned(ctx context.Context, cfg PoisonConfig, fn func(p Poisoned, done func() error) error) error {
	if len(cfg.Kafka.Brokers) == 0 || cfg.Topic == "" || cfg.Group == "" {
		return errors.New("cdn poison: brokers, topic and group are required")
	}
	sc := saramaConfig(cfg.Kafka, "catalog-cdn-poison")
	sc.Consumer.Offsets.AutoCommit.Enable = false
	// With errors returned, closing a partition offset manager waits for
	// someone to read them; they are logged by sarama instead.
	sc.Consumer.Return.Errors = false
	client, err := sarama.NewClient(cfg.Kafka.Brokers, sc)
	if err != nil {
		return fmt.Errorf("connect kafka: %w", err)
	}
	defer client.Close()
	parts, err := client.Partitions(cfg.Topic)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", cfg.Topic, err)
	}
	om, err := sarama.NewOffsetManagerFromClient(cfg.Group, client)
	if err != nil {
		return fmt.Errorf("offsets of group %s: %w", cfg.Group, err)
	}
	defer om.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Topic, err)
	}
	defer consumer.Close()
	for _, part := range parts {
		if err := scanPartition(ctx, cfg, client, om, consumer, part, fn); err != nil {
			return err
		}
	}
	return nil
}

func scanPartition(ctx context.Context, cfg PoisonConfig, client sarama.Client, om sarama.OffsetManager,
	consumer sarama.Consumer, part int32, fn func(Poisoned, func() error) error) error {
	end, err := client.GetOffset(cfg.Topic, part, sarama.OffsetNewest)
	if err != nil {
		return fmt.Errorf("end of %s/%d: %w", cfg.Topic, part, err)
	}
	pom, err := om.ManagePartition(cfg.Topic, part)
	if err != nil {
		return fmt.Errorf("offset of %s/%d: %w", cfg.Topic, part, err)
	}
	// Released by the offset manager's next commit or Close (pom.Close would
	// wait for that here).
	defer pom.AsyncClose()
	from, _ := pom.NextOffset()
	if from < 0 {
		if from, err = client.GetOffset(cfg.Topic, part, sarama.OffsetOldest); err != nil {
			return fmt.Errorf("start of %s/%d: %w", cfg.Topic, part, err)
		}
	}
	if from >= end {
		return nil
	}
	pc, err := consumer.ConsumePartition(cfg.Topic, part, from)
	if err != nil {
		return fmt.Errorf("consume %s/%d: %w", cfg.Topic, part, err)
	}
	defer pc.Close()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-pc.Messages():
			p := Poisoned{Partition: part, Offset: m.Offset, At: m.Timestamp}
			var typ, id string
			for _, h := range m.Headers {
				v := string(h.Value)
				switch string(h.Key) {
				case KeysMetadata:
					p.Keys = strings.Fields(v)
				case SourceMetadata:
					p.Source = v
				case middleware.ReasonForPoisonedKey:
					p.Reason = v
				case "ce_type":
					typ = v
				case "ce_id":
					id = v
				}
			}
			p.Event = strings.TrimSpace(typ + " " + id)
			done := func() error {
				pom.MarkOffset(m.Offset+1, "")
				om.Commit()
				return nil
			}
			if err := fn(p, done); err != nil {
				return err
			}
			if m.Offset+1 >= end {
				return nil
			}
		}
	}
}

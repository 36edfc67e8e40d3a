package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
)

// Publisher appends events to Kafka through watermill-kafka's synchronous
// producer. Publish returns only once every in-sync replica has the events
// (acks=all), and the producer is idempotent, so its own retries never
// duplicate a record. Safe for concurrent use.
type Publisher struct {
	pub *kafka.Publisher
}

// NewPublisher connects a publisher to the cluster.
func NewPublisher(kc KafkaConfig, log *slog.Logger) (*Publisher, error) {
	if err := kc.Validate(); err != nil {
		return nil, err
	}
	cfg := kc.saramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1 // required by the idempotent producer
	cfg.Producer.Retry.Max = 10
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Producer.Compression = sarama.CompressionLZ4
	pub, err := kafka.NewPublisher(kafka.PublisherConfig{
		Brokers:               kc.Brokers,
		OverwriteSaramaConfig: cfg,
		Marshaler: kafka.NewWithPartitioningMarshaler(func(_ string, m *message.Message) (string, error) {
			key := m.Metadata.Get(headerSubject)
			if key == "" {
				return "", errors.New("event has no subject to key it by")
			}
			return key, nil
		}),
	}, watermill.NewSlogLogger(log))
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	return &Publisher{pub: pub}, nil
}

// Publish appends evs, in order, to topic, keyed by each event's Subject.
// Events of one subject land in one partition, so their order is kept.
func (p *Publisher) Publish(ctx context.Context, topic string, evs ...Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	msgs := make([]*message.Message, len(evs))
	for i, e := range evs {
		m := message.NewMessage(e.ID.String(), message.Payload(e.Data))
		for k, v := range e.Headers() {
			m.Metadata.Set(k, v)
		}
		msgs[i] = m
	}
	if err := p.pub.Publish(topic, msgs...); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	return nil
}

// Close flushes and closes the producer.
func (p *Publisher) Close() error { return p.pub.Close() }

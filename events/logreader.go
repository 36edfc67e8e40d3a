package events

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// ErrLogTruncated reports a partition whose oldest record is not at offset
// zero: the log of record has lost its history (a retention setting was
// shortened, or records were deleted), and a fold from offset zero is no
// longer possible.
var ErrLogTruncated = errors.New("log does not start at offset zero")

// LogReader reads whole partitions from offset zero up to a given end,
// without a consumer group: it commits nothing and never disturbs the
// projectors. Safe for concurrent use, one Read per partition at a time.
type LogReader struct {
	client   sarama.Client
	consumer sarama.Consumer
}

// NewLogReader connects a reader.
func NewLogReader(kc KafkaConfig) (*LogReader, error) {
	if err := kc.Validate(); err != nil {
		return nil, err
	}
	cfg := kc.SaramaConfig()
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(kc.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect kafka: %w", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka consumer: %w", err)
	}
	return &LogReader{client: client, consumer: consumer}, nil
}

// Close closes the reader's connections.
func (r *LogReader) Close() error {
	return errors.Join(r.consumer.Close(), r.client.Close())
}

// EndOffsets returns the next offset to be written in each partition of
// topic: the end of the log now.
func (r *LogReader) EndOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	parts, err := r.client.Partitions(topic)
	if err != nil {
		return nil, fmt.Errorf("partitions of %s: %w", topic, err)
	}
	out := make(map[int32]int64, len(parts))
	for _, p := range parts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off, err := r.offset(topic, p, sarama.OffsetNewest)
		if err != nil {
			return nil, fmt.Errorf("end offset of %s: %w", partitionName(topic, p), err)
		}
		out[p] = off
	}
	return out, nil
}

// offset asks for a partition's oldest or newest offset, refreshing the
// metadata and asking again while a leader is moving.
func (r *LogReader) offset(topic string, p int32, which int64) (int64, error) {
	off, err := r.client.GetOffset(topic, p, which)
	for try := 0; try < 20 && (errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable)); try++ {
		_ = r.client.RefreshMetadata(topic)
		off, err = r.client.GetOffset(topic, p, which)
	}
	return off, err
}

// Read calls fn for every record of the partition from offset zero up to,
// not including, end, in offset order, and returns once the record before
// end has been handed over (at once when end is 0). It fails with
// ErrLogTruncated when the partition's oldest record is past offset zero,
// and stops at the first error fn returns.
func (r *LogReader) Read(ctx context.Context, topic string, partition int32, end int64, fn func(Record) error) error {
	if end <= 0 {
		return nil
	}
	oldest, err := r.offset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return fmt.Errorf("oldest offset of %s: %w", partitionName(topic, partition), err)
	}
	if oldest > 0 {
		return fmt.Errorf("%s: %w: its oldest record is at offset %d", partitionName(topic, partition), ErrLogTruncated, oldest)
	}
	pc, err := r.consumer.ConsumePartition(topic, partition, 0)
	if err != nil {
		return fmt.Errorf("consume %s: %w", partitionName(topic, partition), err)
	}
	defer pc.AsyncClose()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-pc.Errors():
			if err != nil {
				return fmt.Errorf("read %s: %w", partitionName(topic, partition), err)
			}
		case m, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("read %s: the consumer closed before offset %d", partitionName(topic, partition), end)
			}
			if m.Offset >= end {
				return nil
			}
			if err := fn(toRecord(m)); err != nil {
				return err
			}
			if m.Offset+1 >= end {
				return nil
			}
		}
	}
}

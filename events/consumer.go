package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/IBM/sarama"
)

// Record is one consumed Kafka record.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
}

// Batch is a run of consecutive records from one partition.
type Batch struct {
	Topic     string
	Partition int32
	Records   []Record
}

// NextOffset is the offset after the batch's last record: the position to
// store once the batch is applied.
func (b Batch) NextOffset() int64 { return b.Records[len(b.Records)-1].Offset + 1 }

// BatchHandler applies batches. A handler that stores its own offsets must
// store NextOffset in the same transaction as the batch's effects; a batch
// is redelivered only when HandleBatch returned an error.
type BatchHandler interface {
	HandleBatch(ctx context.Context, b Batch) error
}

// OffsetStore tells where a consumer left off: for each partition of topic,
// the next offset to read. A partition with no entry starts at the oldest
// record still in the log.
type OffsetStore interface {
	StoredOffsets(ctx context.Context, topic string) (map[int32]int64, error)
}

// ConsumerConfig configures a Consumer.
type ConsumerConfig struct {
	Kafka KafkaConfig
	// Group is the Kafka consumer group id. It is a stable API: renaming it
	// starts a new group.
	Group  string
	Topics []string
	// MaxBatch caps the records per batch (default 500).
	MaxBatch int
	// MaxWait is how long to wait for more records once a batch has one
	// (default 20 ms).
	MaxWait time.Duration
	// RetryBackoff is the first pause before a failed batch is retried
	// (default 200 ms); each further failure of the batch doubles it, up to
	// MaxRetryBackoff (default 30 s). Every pause is jittered: a random
	// duration between half of it and all of it.
	RetryBackoff time.Duration
	// MaxRetryBackoff caps the pause between retries of a failed batch
	// (default 30 s).
	MaxRetryBackoff time.Duration
}

func (c *ConsumerConfig) setDefaults() {
	if c.MaxBatch <= 0 {
		c.MaxBatch = 500
	}
	if c.MaxWait <= 0 {
		c.MaxWait = 20 * time.Millisecond
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = 200 * time.Millisecond
	}
	if c.MaxRetryBackoff < c.RetryBackoff {
		c.MaxRetryBackoff = max(30*time.Second, c.RetryBackoff)
	}
}

// backoff is the jittered pause before retry number attempt (from 1) of a
// failed batch: RetryBackoff doubled per earlier attempt, capped at
// MaxRetryBackoff, then drawn between half of that and all of it, so
// projectors that failed together do not retry in step.
func (c ConsumerConfig) backoff(attempt int) time.Duration {
	d := c.RetryBackoff
	for i := 1; i < attempt && d < c.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, c.MaxRetryBackoff)
	return d/2 + rand.N(d/2+1)
}

// Validate reports missing settings.
func (c ConsumerConfig) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Group == "" {
		errs = append(errs, errors.New("consumer: group is required"))
	}
	if len(c.Topics) == 0 {
		errs = append(errs, errors.New("consumer: at least one topic is required"))
	}
	return errors.Join(errs...)
}

// Consumer runs a Kafka consumer group whose position lives in the
// handler's own store, not in Kafka. It uses sarama's consumer group
// directly rather than watermill's subscriber for two reasons: on every
// partition assignment it must seek to the offsets stored beside the read
// model, and it hands out batches of records rather than one at a time.
//
// Kafka's committed offsets for the group are kept current too (after each
// applied batch), so kafka-consumer-groups and lag monitors show true lag;
// they are never read back.
type Consumer struct {
	cfg     ConsumerConfig
	handler BatchHandler
	offsets OffsetStore
	log     *slog.Logger
}

// NewConsumer builds a Consumer. It connects when Run is called.
func NewConsumer(cfg ConsumerConfig, handler BatchHandler, offsets OffsetStore, log *slog.Logger) (*Consumer, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if handler == nil || offsets == nil || log == nil {
		return nil, errors.New("consumer: handler, offsets and log are required")
	}
	return &Consumer{cfg: cfg, handler: handler, offsets: offsets, log: log}, nil
}

// Run consumes until ctx is cancelled, re-joining the group after every
// rebalance. It returns nil on cancellation.
func (c *Consumer) Run(ctx context.Context) error {
	scfg := c.cfg.Kafka.SaramaConfig()
	scfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	scfg.Consumer.Offsets.AutoCommit.Enable = true
	scfg.Consumer.Offsets.AutoCommit.Interval = time.Second
	scfg.Consumer.Return.Errors = true
	scfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}

	client, err := sarama.NewClient(c.cfg.Kafka.Brokers, scfg)
	if err != nil {
		return fmt.Errorf("connect kafka: %w", err)
	}
	defer client.Close()
	group, err := sarama.NewConsumerGroupFromClient(c.cfg.Group, client)
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", c.cfg.Group, err)
	}
	defer group.Close()
	go func() {
		for err := range group.Errors() {
			c.log.Warn("kafka consumer error", "group", c.cfg.Group, "err", err)
		}
	}()

	h := &groupHandler{c: c, client: client}
	for ctx.Err() == nil {
		if err := group.Consume(ctx, c.cfg.Topics, h); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) || ctx.Err() != nil {
				break
			}
			c.log.Warn("kafka consumer session ended; rejoining", "group", c.cfg.Group, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(c.cfg.RetryBackoff):
			}
		}
	}
	return nil
}

type groupHandler struct {
	c      *Consumer
	client sarama.Client
}

// Setup moves the session to the stored offsets of every claimed partition
// before any record is fetched. sarama's MarkOffset only moves forward and
// ResetOffset only backward; calling both sets the position exactly.
func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	ctx := sess.Context()
	for topic, parts := range sess.Claims() {
		stored, err := h.c.offsets.StoredOffsets(ctx, topic)
		if err != nil {
			return fmt.Errorf("stored offsets of %s: %w", topic, err)
		}
		for _, p := range parts {
			next, ok := stored[p]
			if !ok {
				if next, err = h.client.GetOffset(topic, p, sarama.OffsetOldest); err != nil {
					return fmt.Errorf("oldest offset of %s: %w", partitionName(topic, p), err)
				}
			}
			sess.ResetOffset(topic, p, next, "")
			sess.MarkOffset(topic, p, next, "")
			h.c.log.Info("partition assigned", "group", h.c.cfg.Group, "partition", partitionName(topic, p), "from_offset", next, "stored", ok)
		}
	}
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

// ConsumeClaim gathers records into batches and applies them one batch at a
// time, so records of one partition are applied in order. A failed batch is
// retried (the handler rolled it back), after a jittered exponential
// backoff, until it succeeds or the session ends. The handler decides what
// an error that repeats means (a projection parks the event behind it).
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	msgs := claim.Messages()
	for {
		var first *sarama.ConsumerMessage
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-msgs:
			if !ok {
				return nil
			}
			first = m
		}
		b := Batch{Topic: claim.Topic(), Partition: claim.Partition(), Records: []Record{toRecord(first)}}
		timer := time.NewTimer(h.c.cfg.MaxWait)
	fill:
		for len(b.Records) < h.c.cfg.MaxBatch {
			select {
			case m, ok := <-msgs:
				if !ok {
					break fill
				}
				b.Records = append(b.Records, toRecord(m))
			case <-timer.C:
				break fill
			}
		}
		timer.Stop()

		for attempt := 1; ; attempt++ {
			err := h.c.handler.HandleBatch(ctx, b)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			pause := h.c.cfg.backoff(attempt)
			h.c.log.Error("applying batch failed; retrying", "group", h.c.cfg.Group,
				"partition", partitionName(b.Topic, b.Partition), "from_offset", b.Records[0].Offset, "records", len(b.Records),
				"attempt", attempt, "retry_in", pause, "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pause):
			}
		}
		sess.MarkOffset(b.Topic, b.Partition, b.NextOffset(), "")
	}
}

func toRecord(m *sarama.ConsumerMessage) Record {
	h := make(map[string]string, len(m.Headers))
	for _, rh := range m.Headers {
		h[string(rh.Key)] = string(rh.Value)
	}
	return Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h}
}

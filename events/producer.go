package events

import (
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Outgoing is a record to produce: an envelope bound for a topic.
type Outgoing struct {
	Topic    string
	Envelope Envelope
	// Trace, when set, is the W3C trace context of the work that caused
	// the record (TraceHeaders), carried as its traceparent and tracestate
	// headers.
	Trace map[string]string
}

// Position is where a produced record landed.
type Position struct {
	Partition int32
	Offset    int64
}

// Producer appends envelopes to Kafka: keyed by Subject, acks=all, with the
// idempotent producer so its own retries never duplicate a record, and one
// request in flight per broker so records of one key keep their order. A
// key's partition is the one Kafka's Java clients choose,
// murmur2(key) & 0x7fffffff mod partitions, so analysts' tools and other
// producers agree with catalog on where a release's events are; it also
// spreads check-digit identifiers evenly (FNV-1a, sarama's default, keeps
// the parity of a GTIN's digit sum, which is always even, and so leaves
// half of an even number of partitions empty). The mapping must never
// change for an existing topic: a release's events would then be split
// over two partitions and lose their order. It
// uses sarama directly because the outbox relay needs each record's
// partition and offset. Safe for concurrent use.
type Producer struct {
	sp sarama.SyncProducer
}

// NewProducer connects a producer.
func NewProducer(kc KafkaConfig) (*Producer, error) {
	if err := kc.Validate(); err != nil {
		return nil, err
	}
	cfg := kc.SaramaConfig()
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Idempotent = true
	cfg.Net.MaxOpenRequests = 1
	// A broker's death moves its partitions' leadership only once the
	// controller fences it, after broker.session.timeout.ms (9 s by
	// default) and an election: about 10 s in which every send to those
	// partitions fails. sarama's defaults (3 retries 100 ms apart) give up
	// within a second, and the relay would then back off and re-read the
	// log before sending again; these retries, 100 ms doubling to 1 s, ride
	// through about 17 s of it instead, and the idempotent producer keeps
	// them from writing a record twice. Past that the relay's own retry
	// takes over (events/eventpg).
	cfg.Producer.Retry.Max = 20
	cfg.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration {
		return min(100*time.Millisecond<<min(retries, 4), time.Second)
	}
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	// LZ4 shrinks a batch on the wire and on disk; the size bounds are set on
	// uncompressed bytes (MaxEventBytes, ProducerMaxMessageBytes), so an
	// event's acceptance never depends on how well it compresses.
	cfg.Producer.Compression = sarama.CompressionLZ4
	cfg.Producer.MaxMessageBytes = ProducerMaxMessageBytes
	cfg.Producer.Partitioner = sarama.NewMurmur2Partitioner
	sp, err := sarama.NewSyncProducer(kc.Brokers, cfg)
	if err != nil {
		return nil, fmt.Errorf("kafka producer: %w", err)
	}
	return &Producer{sp: sp}, nil
}

// Send produces records in order and returns once every in-sync replica
// has all of them, with each record's position. On error some records may
// have been written; callers that must not duplicate check for them (the
// outbox relay does).
func (p *Producer) Send(records []Outgoing) ([]Position, error) {
	msgs := make([]*sarama.ProducerMessage, len(records))
	for i, r := range records {
		m := &sarama.ProducerMessage{
			Topic: r.Topic,
			Key:   sarama.StringEncoder(r.Envelope.Subject),
			Value: sarama.ByteEncoder(r.Envelope.Data),
		}
		for k, v := range r.Envelope.Headers() {
			m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
		for _, k := range [...]string{headerTraceParent, headerTraceState} {
			if v := r.Trace[k]; v != "" {
				m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		msgs[i] = m
	}
	if err := p.sp.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			index := make(map[*sarama.ProducerMessage]int, len(msgs))
			for i, m := range msgs {
				index[m] = i
			}
			se := &SendError{Records: len(msgs), Failed: map[int]error{}}
			for _, pe := range perrs {
				if i, ok := index[pe.Msg]; ok {
					se.Failed[i] = pe.Err
				}
			}
			return positions(msgs), se
		}
		return nil, fmt.Errorf("produce %d records: %w", len(msgs), err)
	}
	return positions(msgs), nil
}

func positions(msgs []*sarama.ProducerMessage) []Position {
	out := make([]Position, len(msgs))
	for i, m := range msgs {
		out[i] = Position{Partition: m.Partition, Offset: m.Offset}
	}
	return out
}

// SendError reports the records of a Send that failed, by their index in
// the records passed. The others reached Kafka; a failed one may have too
// (a timeout after the broker wrote it).
type SendError struct {
	Records int
	Failed  map[int]error
}

func (e *SendError) Error() string {
	first := -1
	for i := range e.Failed {
		if first < 0 || i < first {
			first = i
		}
	}
	return fmt.Sprintf("produce %d records: %d failed, first (record %d): %v", e.Records, len(e.Failed), first, e.Failed[first])
}

// Unwrap returns the failures, so errors.Is and IsPermanent see them.
func (e *SendError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, err := range e.Failed {
		out = append(out, err)
	}
	return out
}

// IsPermanent reports whether a produce error is one that sending the
// same record again always repeats: the record is too large for the
// producer or the topic, or the broker finds it invalid. Every other
// error (a broker down, a leader moving, a timeout) may pass.
func IsPermanent(err error) bool {
	var ce sarama.ConfigurationError
	if errors.As(err, &ce) {
		return true // sarama refuses a record over Producer.MaxMessageBytes this way
	}
	for _, k := range []sarama.KError{
		sarama.ErrMessageSizeTooLarge,    // MESSAGE_TOO_LARGE
		sarama.ErrMessageSetSizeTooLarge, // RECORD_LIST_TOO_LARGE
		sarama.ErrInvalidMessage,         // CORRUPT_MESSAGE
		sarama.ErrInvalidRecord,          // INVALID_RECORD
		sarama.ErrInvalidTimestamp,       // INVALID_TIMESTAMP
	} {
		if errors.Is(err, k) {
			return true
		}
	}
	return false
}

// RecordSize is the size of env as a Kafka record, key, value and headers
// uncompressed, counted the way the producer counts it against
// ProducerMaxMessageBytes (so a size within the bound is always sent).
func RecordSize(env Envelope) int {
	m := &sarama.ProducerMessage{Key: sarama.StringEncoder(env.Subject), Value: sarama.ByteEncoder(env.Data)}
	for k, v := range env.Headers() {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	return m.ByteSize(2)
}

// Close flushes and closes the producer.
func (p *Producer) Close() error { return p.sp.Close() }

// EventIDs reads partition p of topic from offset `from` up to the end of
// the log as it is now, and returns the ce_id of every record found. The
// outbox relay uses it to find which of its records already reached Kafka
// before a crash.
func EventIDs(kc KafkaConfig, topic string, p int32, from int64) (map[string]bool, int64, error) {
	client, err := sarama.NewClient(kc.Brokers, kc.SaramaConfig())
	if err != nil {
		return nil, 0, fmt.Errorf("connect kafka: %w", err)
	}
	defer client.Close()
	end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
	if err != nil {
		return nil, 0, fmt.Errorf("end of %s: %w", partitionName(topic, p), err)
	}
	ids := map[string]bool{}
	if from >= end {
		return ids, end, nil
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return nil, 0, fmt.Errorf("kafka consumer: %w", err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, p, from)
	if err != nil {
		return nil, 0, fmt.Errorf("read %s from %d: %w", partitionName(topic, p), from, err)
	}
	defer pc.Close()
	for {
		select {
		case m := <-pc.Messages():
			for _, h := range m.Headers {
				if string(h.Key) == headerID {
					ids[string(h.Value)] = true
				}
			}
			if m.Offset+1 >= end {
				return ids, end, nil
			}
		case perr := <-pc.Errors():
			return nil, 0, fmt.Errorf("read %s: %w", partitionName(topic, p), perr)
		case <-time.After(30 * time.Second):
			return nil, 0, fmt.Errorf("read %s: no record for 30 s before offset %d", partitionName(topic, p), end)
		}
	}
}

// ErrBlocked reports a key whose events are held in the outbox behind one
// that Kafka can never accept (too large, or invalid). Nothing of that key
// is published until an operator clears the row (docs/operations.md), so
// the key's order in the log is kept; new deliveries of it are refused.
var ErrBlocked = errors.New("events of this release are held behind an outbox row Kafka cannot accept")

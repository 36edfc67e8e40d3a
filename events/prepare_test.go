package events_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// fromOldest is an OffsetStore with nothing stored: every partition is read
// from its oldest record.
type fromOldest struct{}

func (fromOldest) StoredOffsets(context.Context, string) (map[int32]int64, error) {
	return map[int32]int64{}, nil
}

// aheadHandler records how a consumer drives a BatchPreparer.
type aheadHandler struct {
	t        *testing.T
	mu       sync.Mutex
	prepared map[int64]int // first offset of a batch -> PrepareBatch calls
	next     int64         // the offset the next handled batch must start at
	failed   bool
	overlap  chan struct{} // closed when a batch is prepared before the first is handled
	done     func()
	last     int64
}

func (h *aheadHandler) HandleBatch(context.Context, events.Batch) error {
	h.t.Error("HandleBatch called on a BatchPreparer")
	return nil
}

func (h *aheadHandler) PrepareBatch(b events.Batch) any {
	h.mu.Lock()
	defer h.mu.Unlock()
	first := b.Records[0].Offset
	h.prepared[first]++
	if h.next == 0 && first > 0 { // the first batch is not handled yet
		select {
		case <-h.overlap:
		default:
			close(h.overlap)
		}
	}
	return first
}

func (h *aheadHandler) HandlePrepared(ctx context.Context, b events.Batch, prepared any) error {
	first := b.Records[0].Offset
	h.mu.Lock()
	if got, ok := prepared.(int64); !ok || got != first {
		h.t.Errorf("batch from offset %d handled with %v prepared, want what PrepareBatch returned for it", first, prepared)
	}
	if first != h.next {
		h.t.Errorf("batch from offset %d handled, want one from %d (in order, none skipped or repeated)", first, h.next)
	}
	h.mu.Unlock()
	if first == 0 {
		// The next batch is prepared while this one is handled.
		select {
		case <-h.overlap:
		case <-time.After(10 * time.Second):
			h.t.Error("the next batch was not prepared while the first was handled")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if first >= 10 && !h.failed {
		// A failure: the batch comes again, with the same prepared value.
		h.failed = true
		return fmt.Errorf("a transient failure of the batch from %d", first)
	}
	h.next = b.NextOffset()
	if h.next > h.last {
		h.done()
	}
	return nil
}

// TestBatchesArePreparedAhead: a BatchPreparer's next batch is prepared
// while the one before it is handled; each batch is handled, in order,
// once it succeeds, with what was prepared for it, also when it is retried.
func TestBatchesArePreparedAhead(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "ahead"
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := openAdmin(t, kc).EnsureTopics(ctx, []events.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 1}}, log); err != nil {
		t.Fatal(err)
	}
	pcfg := sarama.NewConfig()
	pcfg.Producer.Return.Successes = true
	prod, err := sarama.NewSyncProducer(kc.Brokers, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	const n = 40
	for i := range n {
		if _, _, err := prod.SendMessage(&sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder("k"), Value: sarama.StringEncoder(fmt.Sprint(i))}); err != nil {
			t.Fatal(err)
		}
	}
	h := &aheadHandler{t: t, prepared: map[int64]int{}, overlap: make(chan struct{}), done: cancel, last: n - 1}
	c, err := events.NewConsumer(events.ConsumerConfig{Kafka: kc, Group: prefix + "ahead", Topics: []string{topic}, MaxBatch: 5, MaxWait: 5 * time.Millisecond}, h, fromOldest{}, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.next != n {
		t.Fatalf("handled up to offset %d, want all %d records", h.next, n)
	}
	if !h.failed {
		t.Error("no batch failed")
	}
	for first, calls := range h.prepared {
		if calls != 1 {
			t.Errorf("batch from offset %d prepared %d times, want once (a retry reuses it)", first, calls)
		}
	}
}

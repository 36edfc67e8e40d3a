package events_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// TestAdminStopsWhenContextEnds: every call of an Admin returns the
// context's error once it has ended, and a cancelled EnsureTopics creates
// nothing.
func TestAdminStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	admin := openAdmin(t, kc)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := events.NewAdmin(ended, kc); !errors.Is(err, context.Canceled) {
		t.Errorf("NewAdmin after the context ended: %v, want context.Canceled", err)
	}
	err := admin.EnsureTopics(ended, []events.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 1}}, log)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("EnsureTopics: %v, want context.Canceled", err)
	}
	if _, _, err := admin.TopicSettings(context.Background(), topic); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("a cancelled EnsureTopics created %s (describe: %v)", topic, err)
	}
	if _, err := admin.HighWatermarks(ended, topic); !errors.Is(err, context.Canceled) {
		t.Errorf("HighWatermarks: %v, want context.Canceled", err)
	}
	if _, _, err := admin.TopicSettings(ended, topic); !errors.Is(err, context.Canceled) {
		t.Errorf("TopicSettings: %v, want context.Canceled", err)
	}
	if _, err := admin.GroupMembers(ended, prefix+"group"); !errors.Is(err, context.Canceled) {
		t.Errorf("GroupMembers: %v, want context.Canceled", err)
	}
	if err := admin.DeleteGroup(ended, prefix+"group"); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteGroup: %v, want context.Canceled", err)
	}
}

// TestAdminSharesOneConnection: one Admin serves every call, from creating a
// topic to reading its end offsets and groups, and after Close it serves
// none (its one client is closed with it).
func TestAdminSharesOneConnection(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	ctx := context.Background()
	admin, err := events.NewAdmin(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: topic, Partitions: 3, ReplicationFactor: 1}}, log); err != nil {
		t.Fatal(err)
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	env, err := events.NewEnvelope("catalog.test", 1, "/catalog/test", "1", 1, time.Now(), "m1", map[string]int{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: env}}); err != nil {
		t.Fatal(err)
	}
	// A new topic's end offsets are read through the same client that
	// created it (its metadata was refreshed once the leaders were there).
	hw, err := admin.HighWatermarks(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range hw {
		n += v
	}
	if len(hw) != 3 || n != 1 {
		t.Fatalf("end offsets %v, want 3 partitions holding 1 record", hw)
	}
	if parts, cfg, err := admin.TopicSettings(ctx, topic); err != nil || parts != 3 || cfg["retention.ms"] != "-1" {
		t.Fatalf("settings: %d partitions, retention.ms=%s, %v", parts, cfg["retention.ms"], err)
	}
	if m, err := admin.GroupMembers(ctx, prefix+"nobody"); err != nil || m != 0 {
		t.Fatalf("members of an unknown group: %d, %v", m, err)
	}
	if err := admin.DeleteGroup(ctx, prefix+"nobody"); err != nil {
		t.Fatalf("deleting an unknown group: %v", err)
	}
	if err := admin.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.HighWatermarks(ctx, topic); !errors.Is(err, sarama.ErrClosedClient) {
		t.Fatalf("HighWatermarks after Close: %v, want sarama.ErrClosedClient", err)
	}
}

// TestEnsureTopicsReplication: with replication auto a topic gets one
// replica per broker (the shared cluster has one) and the broker's
// min.insync.replicas; an explicit factor above the brokers up is a
// *events.ReplicationError naming both, and creates nothing. (Three
// brokers: cmd/catalog's TestBrokerKillMidIngest.)
func TestEnsureTopicsReplication(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	admin := openAdmin(t, kc)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	auto := prefix + "auto"
	if err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: auto, Partitions: 1, ReplicationFactor: events.ReplicationAuto}}, log); err != nil {
		t.Fatal(err)
	}
	if _, cfg, err := admin.TopicSettings(ctx, auto); err != nil || cfg["min.insync.replicas"] != "1" {
		t.Fatalf("auto on one broker: min.insync.replicas=%s, %v; want 1", cfg["min.insync.replicas"], err)
	}

	three := prefix + "three"
	err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: three, Partitions: 1, ReplicationFactor: 3}}, log)
	var re *events.ReplicationError
	if !errors.As(err, &re) || re.ReplicationFactor != 3 || re.Brokers != 1 || re.Topic != three {
		t.Fatalf("replication 3 on one broker: %v, want a ReplicationError naming 3 and 1 broker", err)
	}
	if _, _, err := admin.TopicSettings(ctx, three); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Fatalf("the refused topic exists (describe: %v)", err)
	}
}

// TestVerifyTopicsRefusesFiniteRetention: in verify mode a topic the
// operator made with a finite retention, compaction or a small record
// limit is refused with every such setting named, and nothing is altered;
// a topic as catalog would make it passes.
func TestVerifyTopicsRefusesFiniteRetention(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	admin := openAdmin(t, kc)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	good := events.TopicSpec{Name: prefix + "releases", Partitions: 2, ReplicationFactor: 1}
	if err := admin.EnsureTopics(ctx, []events.TopicSpec{good}, log); err != nil {
		t.Fatal(err)
	}
	if err := admin.VerifyTopics(ctx, []events.TopicSpec{good}, log); err != nil {
		t.Fatalf("a topic as catalog makes it: %v", err)
	}

	// The operator's topic: a week's retention, compacted, 1 MiB records.
	sa, err := sarama.NewClusterAdmin(kc.Brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	week, compact, small := "604800000", "compact", "1048576"
	bad := events.TopicSpec{Name: prefix + "weekly", Partitions: 1, ReplicationFactor: 1}
	if err := sa.CreateTopic(bad.Name, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1,
		ConfigEntries: map[string]*string{"retention.ms": &week, "cleanup.policy": &compact, "max.message.bytes": &small}}, false); err != nil {
		t.Fatal(err)
	}
	err = admin.VerifyTopics(ctx, []events.TopicSpec{good, bad}, log)
	var pe *events.TopicProblemError
	if !errors.As(err, &pe) || len(pe.Problems) != 3 {
		t.Fatalf("VerifyTopics: %v, want the three problems of %s", err, bad.Name)
	}
	for _, want := range []string{"retention.ms=604800000, want -1", "cleanup.policy=compact, want delete", "max.message.bytes=1048576, want at least 8388608"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q: %v", want, err)
		}
	}
	_, cfg, err := admin.TopicSettings(ctx, bad.Name)
	if err != nil {
		t.Fatal(err)
	}
	if cfg["retention.ms"] != week || cfg["cleanup.policy"] != compact || cfg["max.message.bytes"] != small {
		t.Errorf("VerifyTopics altered the operator's topic: %v", cfg)
	}

	// A topic that does not exist is waited for, creating nothing.
	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	missing := events.TopicSpec{Name: prefix + "missing", Partitions: 1, ReplicationFactor: 1}
	if err := admin.VerifyTopics(wait, []events.TopicSpec{missing}, log); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a missing topic: %v, want the wait to end with the context", err)
	}
	if _, _, err := admin.TopicSettings(ctx, missing.Name); !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
		t.Errorf("VerifyTopics created %s (describe: %v)", missing.Name, err)
	}
}

package main_test

import (
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
)

// TestTopicsVerifyMode: with CATALOG_TOPICS=verify ingest stops at start
// on a releases topic the operator gave a finite retention, naming it and
// altering nothing; on topics as catalog needs them it starts and serves.
func TestTopicsVerifyMode(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	sa, err := sarama.NewClusterAdmin(s.brokers, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Close()
	day, forever, big := "86400000", "-1", "8388608"
	topic := s.prefix + "releases"
	for _, name := range []string{topic, s.prefix + "cdn-purge.poison"} {
		retention := forever
		if name == topic {
			retention = day
		}
		if err := sa.CreateTopic(name, &sarama.TopicDetail{NumPartitions: 3, ReplicationFactor: 1,
			ConfigEntries: map[string]*string{"retention.ms": &retention, "max.message.bytes": &big}}, false); err != nil {
			t.Fatal(err)
		}
	}

	p := s.startWith(t, []string{"CATALOG_TOPICS=verify"}, "ingest")
	select {
	case err := <-p.done:
		if err == nil || !strings.Contains(p.out.String(), "topic "+topic+" has retention.ms=86400000, want -1") {
			t.Fatalf("ingest ended with %v:\n%s", err, p.out)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("ingest did not stop on a finite retention:\n%s", p.out)
	}
	p.done <- nil // for the cleanup's wait
	cfg, err := sa.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"retention.ms"}})
	if err != nil || len(cfg) != 1 || cfg[0].Value != day {
		t.Fatalf("the topic's retention after verify mode: %v %v", cfg, err)
	}

	// The operator fixes the topic where it is declared: now it starts.
	if err := sa.AlterConfig(sarama.TopicResource, topic, map[string]*string{"retention.ms": &forever, "max.message.bytes": &big}, false); err != nil {
		t.Fatal(err)
	}
	s.startWith(t, []string{"CATALOG_TOPICS=verify"}, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
}

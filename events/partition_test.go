package events_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// gtin13 returns the 13-digit GTIN with the given 12-digit body and its
// check digit, the form of a release's UPC/EAN.
func gtin13(body int64) string {
	s := fmt.Sprintf("%012d", body)
	sum := 0
	for i, c := range s {
		d := int(c - '0')
		if i%2 == 1 {
			d *= 3
		}
		sum += d
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

// TestPartitionsLikeJavaClients: catalog puts each release on the
// partition Kafka's Java producer would choose for the same key, and a
// catalogue of check-digit release ids reaches every partition.
func TestPartitionsLikeJavaClients(t *testing.T) {
	t.Parallel()
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	libs := testenv.KafkaLibs(t)
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	ours, java := prefix+"releases", prefix+"java"
	const partitions = 6
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := openAdmin(t, kc).EnsureTopics(context.Background(), []events.TopicSpec{
		{Name: ours, Partitions: partitions, ReplicationFactor: 1},
		{Name: java, Partitions: partitions, ReplicationFactor: 1},
	}, log); err != nil {
		t.Fatal(err)
	}

	var keys []string
	for i := int64(0); i < 120; i++ {
		keys = append(keys, gtin13(506000000000+i*7919))
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var out []events.Outgoing
	for _, k := range keys {
		e, err := events.NewEnvelope("catalog.release.delivered", 2, "/catalog/ingest", k, 1, time.Now(), "msg-"+k, map[string]any{"upc": k})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, events.Outgoing{Topic: ours, Envelope: e})
	}
	pos, err := prod.Send(out)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int32{}
	perPartition := make([]int, partitions)
	for i, p := range pos {
		got[keys[i]] = p.Partition
		perPartition[p.Partition]++
	}
	for p, n := range perPartition {
		if n == 0 {
			t.Errorf("partition %d got none of %d releases: %v", p, len(keys), perPartition)
		}
	}

	// The same keys through Kafka's own console producer (Java, default partitioner).
	var in bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&in, "%s\t{}\n", k)
	}
	cmd := exec.Command("java", "-cp", filepath.Join(libs, "*"), "org.apache.kafka.tools.ConsoleProducer",
		"--bootstrap-server", strings.Join(kc.Brokers, ","), "--topic", java,
		"--property", "parse.key=true", "--property", "key.separator=\t")
	cmd.Stdin = &in
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ConsoleProducer: %v\n%s", err, b)
	}
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make up installs it): %v", err)
	}
	b, err := exec.Command(kcat, "-b", strings.Join(kc.Brokers, ","), "-C", "-t", java, "-o", "beginning", "-e", "-q", "-J").Output()
	if err != nil {
		t.Fatalf("kcat: %v", err)
	}
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var r struct {
			Partition int32  `json:"partition"`
			Key       string `json:"key"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat printed %q: %v", sc.Text(), err)
		}
		seen++
		if want, ok := got[r.Key]; !ok {
			t.Errorf("Java producer wrote unknown key %q", r.Key)
		} else if r.Partition != want {
			t.Errorf("key %s: catalog chose partition %d, Kafka's Java producer %d", r.Key, want, r.Partition)
		}
	}
	if seen != len(keys) {
		t.Errorf("read %d records back from the Java producer's topic, want %d", seen, len(keys))
	}
}

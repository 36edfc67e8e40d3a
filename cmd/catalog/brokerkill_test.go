package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
	"github.com/catalog-org/catalog/testenv"
)

// killDelivery is one delivery of TestBrokerKillMidIngest and what ingest
// answered it.
type killDelivery struct {
	msg     string // sender/message id: the causation of its events
	body    []byte
	invalid bool // made invalid on purpose: must be refused, no event of it in Kafka

	sent     time.Time
	answered time.Time
	status   int // of the answer that ended it: 2xx, or 4xx (refused)
	tries    []int
	result   ingest.Result
}

// TestBrokerKillMidIngest: on a three-broker cluster, where catalog makes
// its topics with three replicas and min.insync.replicas 2, SIGKILL of the
// broker leading the most partitions of the releases topic in the middle of
// a stream of deliveries loses and doubles nothing, and ingest keeps
// accepting. An independent reader (kcat) then finds every event of every
// 2xx answer exactly once, no event of a refused delivery, no event twice;
// the killed broker, started again, rejoins every partition's in-sync
// replicas.
func TestBrokerKillMidIngest(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make up installs it): %v", err)
	}
	k := testenv.StartKafka(t, 3)
	s := newStack(t)
	s.brokers = k.Brokers()
	s.env = append(s.env, "CATALOG_KAFKA_BROKERS="+strings.Join(k.Brokers(), ","), "CATALOG_TOPIC_PARTITIONS=6",
		"CATALOG_LOG_LEVEL=info")
	topic, poison := s.prefix+"releases", s.prefix+"cdn-purge.poison"

	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(k.Brokers(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	// A topic made by hand with three replicas and the broker's
	// min.insync.replicas (1): ingest raises it to 2 when it starts.
	if err := admin.CreateTopic(poison, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 3}, false); err != nil {
		t.Fatal(err)
	}

	s.start(t, "ingest")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	for name, want := range map[string]string{topic: "2", poison: "2"} {
		if rf, minISR := topicReplication(t, admin, name); rf != 3 || minISR != want {
			t.Fatalf("%s: %d replicas, min.insync.replicas %s; want 3 and %s", name, rf, minISR, want)
		}
	}

	// The deliveries: first deliveries of distinct releases, and one in
	// twenty made invalid (no title), which ingest must refuse.
	const total = 300
	var plan []*killDelivery
	for i, d := range gen.Catalogue(0xb20c3, total, 0) {
		if !strings.Contains(d.Name, "-new-") || len(plan) == total {
			continue
		}
		kd := &killDelivery{msg: d.Release.Sender + "/" + d.Release.MessageID}
		if i%20 == 7 {
			d.Release.Title, kd.invalid = "", true
		}
		if kd.body, err = ingest.EncodeJSON(d.Release); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, kd)
	}
	if len(plan) < 200 {
		t.Fatalf("only %d first deliveries generated", len(plan))
	}

	// Send about 25 a second, each on its own goroutine (a delivery held up
	// by the failover does not hold up the next), and kill the broker
	// leading the most partitions once a third have been answered.
	var (
		mu       sync.Mutex
		answered int
		wg       sync.WaitGroup
	)
	httpc := &http.Client{Timeout: 60 * time.Second}
	killAt := make(chan struct{})
	var killOnce sync.Once
	send := func(d *killDelivery) {
		defer wg.Done()
		d.sent = time.Now()
		for try := 0; ; try++ {
			status, body := postDelivery(httpc, s.ingest, d.body)
			d.tries = append(d.tries, status)
			if status >= 200 && status < 300 || status >= 400 && status < 500 || try == 30 {
				d.answered, d.status = time.Now(), status
				if status >= 200 && status < 300 {
					if err := json.Unmarshal(body, &d.result); err != nil {
						t.Errorf("%s: unreadable answer %s: %v", d.msg, body, err)
					}
				}
				break
			}
			// A 5xx (or no answer): the delivery may be queued for Kafka;
			// a client retries, and the retry finds it unchanged.
			time.Sleep(500 * time.Millisecond)
		}
		mu.Lock()
		answered++
		if answered == len(plan)/3 {
			killOnce.Do(func() { close(killAt) })
		}
		mu.Unlock()
	}
	var killed time.Time
	var victim int
	killDone := make(chan struct{})
	go func() {
		defer close(killDone)
		<-killAt
		victim = mostLeader(t, client, topic)
		killed = time.Now()
		k.Kill(victim)
	}()
	start := time.Now()
	for _, d := range plan {
		wg.Add(1)
		go send(d)
		time.Sleep(40 * time.Millisecond)
	}
	wg.Wait()
	<-killDone
	if killed.IsZero() {
		t.Fatal("the broker was never killed")
	}
	t.Logf("%d deliveries over %s; broker %d (node %d) killed at +%s", len(plan), time.Since(start).Round(time.Millisecond),
		k.NodeID(victim), victim, killed.Sub(start).Round(time.Millisecond))

	// What ingest answered after the kill.
	var after, afterOK, retried int
	var firstBad, lastBad time.Time
	var slowest time.Duration
	for _, d := range plan {
		for _, st := range d.tries {
			if st < 200 || st >= 300 && !(d.invalid && st >= 400 && st < 500) {
				retried++
			}
		}
		if d.answered.Before(killed) {
			continue
		}
		after++
		if d.status >= 200 && d.status < 300 {
			afterOK++
			slowest = max(slowest, d.answered.Sub(d.sent))
		}
		if len(d.tries) > 1 || !d.invalid && (d.status < 200 || d.status >= 300) {
			if firstBad.IsZero() || d.sent.Before(firstBad) {
				firstBad = d.sent
			}
			if d.answered.After(lastBad) {
				lastBad = d.answered
			}
		}
	}
	if firstBad.IsZero() {
		t.Logf("after the kill: %d deliveries answered, %d with 2xx, every one at the first try; slowest 2xx %s",
			after, afterOK, slowest.Round(time.Millisecond))
	} else {
		t.Logf("after the kill: %d deliveries answered, %d with 2xx; %d answers other than 2xx (or none), retried, between +%s and +%s after the kill; slowest 2xx %s",
			after, afterOK, retried, firstBad.Sub(killed).Round(time.Millisecond), lastBad.Sub(killed).Round(time.Millisecond), slowest.Round(time.Millisecond))
	}
	ok, refused := 0, 0
	for _, d := range plan {
		switch {
		case d.invalid && (d.status < 400 || d.status >= 500):
			t.Errorf("%s (invalid) answered %d, want a 4xx", d.msg, d.status)
		case d.invalid:
			refused++
		case d.status < 200 || d.status >= 300:
			t.Errorf("%s: answered %v, never a 2xx", d.msg, d.tries)
		default:
			ok++
		}
	}
	if after == 0 || afterOK == 0 {
		t.Errorf("no delivery was answered with 2xx after the kill (%d answered after it)", after)
	}

	// The killed broker comes back and catches up.
	if err := k.Start(victim); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	testenv.Eventually(t, 90*time.Second, func() error {
		if err := client.RefreshMetadata(topic); err != nil {
			return err
		}
		parts, err := client.Partitions(topic)
		if err != nil {
			return err
		}
		for _, p := range parts {
			isr, err := client.InSyncReplicas(topic, p)
			if err != nil {
				return err
			}
			if !containsID(isr, k.NodeID(victim)) {
				return fmt.Errorf("partition %d: in-sync replicas %v, without broker %d", p, isr, k.NodeID(victim))
			}
		}
		return nil
	})
	t.Logf("broker %d restarted; in every partition's ISR %s later", k.NodeID(victim), time.Since(restarted).Round(time.Millisecond))

	// The ledger, read by kcat.
	cmd := exec.Command(kcat, "-b", strings.Join(k.Brokers(), ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	type record struct {
		Partition int32    `json:"partition"`
		Offset    int64    `json:"offset"`
		Headers   []string `json:"headers"`
	}
	type seen struct {
		at        []string
		causation string
	}
	byID := map[string]*seen{}
	records := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 32<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat printed %.200q: %v", sc.Text(), err)
		}
		h := map[string]string{}
		for i := 0; i+1 < len(r.Headers); i += 2 {
			h[r.Headers[i]] = r.Headers[i+1]
		}
		if h["ce_id"] == "" {
			t.Errorf("record %d@%d has no ce_id header", r.Partition, r.Offset)
			continue
		}
		records++
		e := byID[h["ce_id"]]
		if e == nil {
			e = &seen{causation: h["ce_causationid"]}
			byID[h["ce_id"]] = e
		}
		e.at = append(e.at, strconv.Itoa(int(r.Partition))+"@"+strconv.FormatInt(r.Offset, 10))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	byMsg := map[string]*killDelivery{}
	named := 0
	var problems []string
	for _, d := range plan {
		byMsg[d.msg] = d
		for _, ev := range d.result.Events {
			named++
			switch e := byID[ev.ID]; {
			case e == nil:
				problems = append(problems, fmt.Sprintf("%s: event %s (%s #%d) was answered %d and is not in Kafka", d.msg, ev.ID, ev.Type, ev.Sequence, d.status))
			case len(e.at) != 1:
				problems = append(problems, fmt.Sprintf("%s: event %s is in Kafka %d times (%v)", d.msg, ev.ID, len(e.at), e.at))
			}
		}
	}
	for id, e := range byID {
		d := byMsg[e.causation]
		switch {
		case d == nil:
			problems = append(problems, fmt.Sprintf("event %s of %q: no such delivery", id, e.causation))
		case d.status < 200 || d.status >= 300:
			problems = append(problems, fmt.Sprintf("event %s of %s, which was answered %v, is in Kafka", id, d.msg, d.tries))
		case len(e.at) != 1:
			problems = append(problems, fmt.Sprintf("event %s of %s is in Kafka %d times (%v)", id, d.msg, len(e.at), e.at))
		}
	}
	sort.Strings(problems)
	for _, p := range problems {
		t.Errorf("ledger: %s", p)
	}
	if named == 0 || records < named {
		t.Errorf("ledger: %d records in Kafka, %d events named by 2xx answers", records, named)
	}
	t.Logf("ledger: %d records in Kafka, %d distinct events; %d events named by %d 2xx answers, each exactly once; %d invalid deliveries refused, none of their events in Kafka; %d problems",
		records, len(byID), named, ok, refused, len(problems))
}

// postDelivery posts a JSON delivery to ingest and returns the status (0:
// no answer) and body.
func postDelivery(c *http.Client, addr string, body []byte) (int, []byte) {
	resp, err := c.Post("http://"+addr+"/v1/deliveries", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// topicReplication returns a topic's replication factor and its
// min.insync.replicas.
func topicReplication(t testing.TB, admin sarama.ClusterAdmin, topic string) (int, string) {
	t.Helper()
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil || len(md) != 1 || len(md[0].Partitions) == 0 {
		t.Fatalf("describe %s: %v %v", topic, md, err)
	}
	entries, err := admin.DescribeConfig(sarama.ConfigResource{Type: sarama.TopicResource, Name: topic, ConfigNames: []string{"min.insync.replicas"}})
	if err != nil {
		t.Fatal(err)
	}
	minISR := ""
	for _, e := range entries {
		if e.Name == "min.insync.replicas" {
			minISR = e.Value
		}
	}
	return len(md[0].Partitions[0].Replicas), minISR
}

// mostLeader returns the node (0-based) leading the most partitions of
// topic.
func mostLeader(t testing.TB, client sarama.Client, topic string) int {
	if err := client.RefreshMetadata(topic); err != nil {
		t.Error(err)
		return 0
	}
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Error(err)
		return 0
	}
	count := map[int32]int{}
	for _, p := range parts {
		if b, err := client.Leader(topic, p); err == nil {
			count[b.ID()]++
		}
	}
	best := int32(1)
	for id, n := range count {
		if n > count[best] || n == count[best] && id < best {
			best = id
		}
	}
	return int(best) - 1
}

func containsID(ids []int32, id int32) bool {
	for _, v := range ids {
		if v == id {
			return true
		}
	}
	return false
}

// TestTopicReplicationAboveBrokers: an explicit CATALOG_TOPIC_REPLICATION
// above the brokers of the cluster (the shared one has one) stops ingest at
// start with an error naming the setting and what to set instead.
func TestTopicReplicationAboveBrokers(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	cmd := exec.Command(catalogBin, "ingest")
	cmd.Env = append(append([]string(nil), s.env...), "CATALOG_TOPIC_REPLICATION=3")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("ingest started with replication 3 on one broker:\n%s", out)
	}
	for _, want := range []string{"CATALOG_TOPIC_REPLICATION=3", "replication factor 3 is above the 1 broker(s)", "at most 1, or to auto"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ingest's error does not say %q:\n%s", want, out)
		}
	}
}

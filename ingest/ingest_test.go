package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/ingestpg"
	"github.com/catalog-org/catalog/testenv"
)

type fixture struct {
	svc   *ingest.Service
	srv   *httptest.Server
	pool  *pgxpool.Pool
	kafka events.KafkaConfig
	admin *events.Admin
	topic string
	relay *eventpg.Relay
	logs  *syncBuffer
}

// syncBuffer collects a test's logs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	return newFixtureConfig(t, ingest.Config{})
}

// newFixtureConfig is newFixture with cfg for the service (its Topic is set).
func newFixtureConfig(t testing.TB, cfg ingest.Config) fixture {
	t.Helper()
	return newFixtureHook(t, cfg, nil)
}

// newFixtureHook is newFixtureConfig with hook as the relay's
// RelayConfig.Hook.
func newFixtureHook(t testing.TB, cfg ingest.Config, hook func(stage string)) fixture {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	pool := testenv.Postgres(t)
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	if err := ingestpg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	admin, err := events.NewAdmin(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: topic, Partitions: 3, ReplicationFactor: 1}}, log); err != nil {
		t.Fatal(err)
	}
	// The store the ingest role and command run: group commit.
	store, err := ingestpg.NewGroupCommit(pool, ingestpg.GroupCommit{})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	relay, err := eventpg.NewRelay(eventpg.RelayConfig{Kafka: kc, Hook: hook}, pool, prod, admin, log)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()
	t.Cleanup(func() { stop(); <-done; store.Close(); _ = prod.Close() })
	cfg.Topic = topic
	svc, err := ingest.NewService(cfg, store, relay, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ingest.NewHTTPHandler(svc, log))
	t.Cleanup(srv.Close)
	return fixture{svc: svc, srv: srv, pool: pool, kafka: kc, admin: admin, topic: topic, relay: relay, logs: logs}
}

func (f fixture) post(t *testing.T, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(f.srv.URL+"/v1/releases", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

// logSize is the number of records in the topic, all partitions together.
func (f fixture) logSize(t *testing.T) int64 {
	t.Helper()
	hw, err := f.admin.HighWatermarks(context.Background(), f.topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, v := range hw {
		n += v
	}
	return n
}

func (f fixture) streams(t *testing.T) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from release_streams`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

const validRelease = `{
  "messageId": "msg-1",
  "upc": "00724349501058",
  "title": "Come Down",
  "artist": "The Dandy Warhols",
  "label": "Capitol",
  "tracks": [
    {"isrc": "USCA29600191", "title": "I Love You", "duration": "PT4M12S", "disc": 1, "number": 5},
    {"isrc": "USCA29600192", "title": "Minnesoter", "duration": "PT3M20S", "disc": 1, "number": 6}
  ],
  "availability": [
    {"territory": "GB", "download": "1997-07-03", "streaming": "1997-07-03"},
    {"territory": "US", "download": "1997-07-03"}
  ]
}`

func TestRejectsBadInputAndChangesNothing(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	tests := []struct {
		name        string
		contentType string
		body        string
		status      int
		fields      []string
	}{
		{"malformed JSON", "application/json", `{"upc": "0072`, 400, []string{"(body)"}},
		{"empty body", "application/json", ``, 400, []string{"(body)"}},
		{"unknown field", "application/json", `{"upc":"00724349501058","colour":"red"}`, 400, []string{"colour"}},
		{"wrong type", "application/json", `{"upc":"00724349501058","tracks":[{"disc":"one"}]}`, 400, []string{"tracks.disc"}},
		{"missing fields", "application/json", `{"upc":"00724349501058","tracks":[{"isrc":"USCA29600191"}]}`, 400,
			[]string{"title", "artist", "tracks[0].title", "tracks[0].duration", "tracks[0].disc", "tracks[0].number"}},
		{"bad values", "application/json", strings.Replace(strings.Replace(validRelease, `"GB"`, `"XX"`, 1), "00724349501058", "00724349501059", 1), 400,
			[]string{"upc", "availability[0].territory"}},
		{"not JSON", "text/plain", validRelease, 415, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := f.post(t, tc.contentType, tc.body)
			if status != tc.status {
				t.Fatalf("status = %d, want %d (%v)", status, tc.status, body)
			}
			if body["error"] == "" || body["status"] != "rejected" {
				t.Errorf("body = %v, want status rejected and an error", body)
			}
			var got []string
			problems, _ := body["problems"].([]any)
			for _, p := range problems {
				m := p.(map[string]any)
				if m["reason"] == "" {
					t.Errorf("problem %v has no reason", m)
				}
				got = append(got, m["field"].(string))
			}
			if strings.Join(got, ",") != strings.Join(tc.fields, ",") {
				t.Errorf("problem fields = %v, want %v", got, tc.fields)
			}
		})
	}
	if n := f.streams(t); n != 0 {
		t.Errorf("%d release streams after rejected deliveries, want 0", n)
	}
	if n := f.logSize(t); n != 0 {
		t.Errorf("%d records in Kafka after rejected deliveries, want 0", n)
	}
}

func TestAcceptsOnceAndKeepsTrackIDs(t *testing.T) {
	t.Parallel()
	f := newFixture(t)

	status, first := f.post(t, "application/json", validRelease)
	if status != http.StatusAccepted || first["status"] != "accepted" || first["version"] != 1.0 {
		t.Fatalf("first delivery: %d %v", status, first)
	}
	ids := first["trackIds"].(map[string]any)
	if len(ids) != 2 || ids["USCA29600191"] == ids["USCA29600192"] {
		t.Fatalf("track ids = %v", ids)
	}
	if n := f.logSize(t); n != 1 {
		t.Fatalf("%d records in Kafka, want 1", n)
	}

	// The same content again is a no-op.
	status, again := f.post(t, "application/json", validRelease)
	if status != http.StatusOK || again["status"] != "unchanged" || len(again["events"].([]any)) != 0 {
		t.Fatalf("resend: %d %v", status, again)
	}
	if n := f.logSize(t); n != 1 {
		t.Fatalf("%d records in Kafka after an unchanged resend, want 1", n)
	}

	// An update keeps the track ids and appends version 2.
	status, upd := f.post(t, "application/json", strings.Replace(validRelease, `"Come Down"`, `"Come Down (Remastered)"`, 1))
	if status != http.StatusAccepted || upd["version"] != 2.0 {
		t.Fatalf("update: %d %v", status, upd)
	}
	for isrc, id := range upd["trackIds"].(map[string]any) {
		if ids[isrc] != id {
			t.Errorf("track %s id changed from %v to %v", isrc, ids[isrc], id)
		}
	}

	// Both events are in one partition, keyed by UPC, in order, with the
	// CloudEvents headers.
	recs := readAll(t, f.kafka, f.topic, 2)
	for i, r := range recs {
		if string(r.Key) != "00724349501058" {
			t.Errorf("record %d key = %q", i, r.Key)
		}
		env, err := events.Decode(r.Headers, r.Value)
		if err != nil {
			t.Fatal(err)
		}
		wantType := []string{release.TypeDelivered, release.TypeMetadataChanged}[i]
		if env.Type != wantType || env.Sequence != int64(i+1) || env.Subject != "00724349501058" || env.Source != ingest.Source ||
			env.SchemaVersion != release.SchemaVersions[wantType] {
			t.Errorf("record %d envelope = %+v", i, env)
		}
		if i == 0 {
			var ev release.Delivered
			if err := json.Unmarshal(env.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if len(ev.Tracks) != 2 || ev.Tracks[0].ISRC != "USCA29600191" || ev.Tracks[0].DurationSeconds != 252 || len(ev.Deals) != 3 {
				t.Errorf("record %d data = %+v", i, ev)
			}
		} else {
			var ev release.MetadataChanged
			if err := json.Unmarshal(env.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.Title != "Come Down (Remastered)" {
				t.Errorf("record %d data = %+v", i, ev)
			}
		}
	}
	if recs[0].Partition != recs[1].Partition {
		t.Errorf("events of one release in partitions %d and %d", recs[0].Partition, recs[1].Partition)
	}
}

// TestConcurrentDeliveriesOfOneRelease sends the same new release many
// times at once: it is accepted once and the others find it unchanged.
func TestConcurrentDeliveriesOfOneRelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	const n = 8
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, err := http.Post(f.srv.URL+"/v1/releases", "application/json", bytes.NewBufferString(validRelease))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	count := map[int]int{}
	for i := 0; i < n; i++ {
		count[<-statuses]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusOK] != n-1 {
		t.Fatalf("statuses = %v, want one 202 and %d 200", count, n-1)
	}
	if got := f.logSize(t); got != 1 {
		t.Fatalf("%d records in Kafka, want 1", got)
	}
}

func readAll(t *testing.T, kc events.KafkaConfig, topic string, want int) []events.Record {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	c, err := sarama.NewConsumer(kc.Brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := events.NewAdmin(context.Background(), kc)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	hw, _ := admin.HighWatermarks(context.Background(), topic)
	var out []events.Record
	for _, p := range parts {
		if hw[p] == 0 {
			continue
		}
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		for int64(len(out)) < int64(want) {
			select {
			case m := <-pc.Messages():
				h := map[string]string{}
				for _, rh := range m.Headers {
					h[string(rh.Key)] = string(rh.Value)
				}
				out = append(out, events.Record{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: m.Key, Value: m.Value, Headers: h})
				if m.Offset+1 >= hw[p] {
					goto next
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("timed out reading %s/%d", topic, p)
			}
		}
	next:
		pc.Close()
	}
	if len(out) != want {
		t.Fatalf("read %d records, want %d", len(out), want)
	}
	return out
}

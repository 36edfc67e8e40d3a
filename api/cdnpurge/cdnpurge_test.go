package cdnpurge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/api"
	"github.com/catalog-org/catalog/api/cdnpurge"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projectionredis"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

// fixture is the read side on the real services: a track-details read
// model in a database of the test's own, its projector on a topic of the
// test's own, the API on it, and a varnishd in front of the API.
type fixture struct {
	ctx      context.Context
	log      *slog.Logger
	store    *trackdetailspg.Store
	live     int
	kc       events.KafkaConfig
	prefix   string
	topic    string
	producer *events.Producer
	apiURL   string
	cdn      string
	seq      int64
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{ctx: context.Background(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if testing.Verbose() {
		f.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	pool := testenv.Postgres(t)
	if err := projectionpg.Migrate(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.store, err = trackdetailspg.New(pool); err != nil {
		t.Fatal(err)
	}
	g, err := f.store.EnsureLive(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.live = g.Number
	brokers := testenv.KafkaBrokers(t)
	f.prefix = testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, brokers, f.prefix)
	f.kc = events.KafkaConfig{Brokers: brokers, ClientID: "cdnpurge-test"}
	f.topic = f.prefix + "releases"
	admin, err := events.NewAdmin(f.ctx, f.kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.EnsureTopics(f.ctx, []events.TopicSpec{
		{Name: f.topic, Partitions: 3, ReplicationFactor: 1},
		{Name: f.poisonTopic(), Partitions: 1, ReplicationFactor: 1},
	}, f.log); err != nil {
		t.Fatal(err)
	}
	if f.producer, err = events.NewProducer(f.kc); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.producer.Close() })
	h, err := api.NewHandler(api.Config{}, f.store, f.log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.apiURL = srv.URL
	f.cdn = startVarnish(t, strings.TrimPrefix(srv.URL, "http://"))
	return f
}

func (f *fixture) poisonTopic() string { return f.prefix + "cdn-purge.poison" }
func (f *fixture) group() string       { return f.prefix + "cdn-purge" }

// startProjector runs the track-details projector and its cache
// invalidations (real Redis, a key space of the test's own); the returned
// func stops them and waits for them.
func (f *fixture) startProjector(t testing.TB) (stop func()) {
	t.Helper()
	cache, err := projectionredis.New(projectionredis.Config{Addr: testenv.RedisAddr(t), Prefix: f.prefix})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := projections.NewInvalidations(f.store, cache, f.log)
	if err != nil {
		t.Fatal(err)
	}
	stopInv := f.run(t, func(ctx context.Context) error { return inv.Run(ctx) })
	w := f.store.Writer(f.live)
	proj, err := projections.NewHandler(w, inv, f.log)
	if err != nil {
		t.Fatal(err)
	}
	c, err := events.NewConsumer(events.ConsumerConfig{Kafka: f.kc, Group: f.prefix + "projector", Topics: []string{f.topic}, MaxWait: 5 * time.Millisecond}, proj, w, f.log)
	if err != nil {
		t.Fatal(err)
	}
	stopProj := f.run(t, func(ctx context.Context) error { return c.Run(ctx) })
	return func() { stopProj(); stopInv() }
}

// startPurger runs a purger on purge; the returned func stops it.
func (f *fixture) startPurger(t testing.TB, purge cdnpurge.Purge, cfg cdnpurge.Config) (stop func()) {
	t.Helper()
	cfg.Kafka, cfg.Topic, cfg.Group, cfg.PoisonTopic, cfg.FromOldest = f.kc, f.topic, f.group(), f.poisonTopic(), true
	p, err := cdnpurge.New(cfg, f.store, purge, nil, f.log)
	if err != nil {
		t.Fatal(err)
	}
	running := make(chan struct{})
	stop = f.run(t, func(ctx context.Context) error { return p.Run(ctx, running) })
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("purger's router not running after 30 s")
	}
	return stop
}

func (f *fixture) run(t testing.TB, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("stopped with: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

func (f *fixture) endpoint(t testing.TB, base string) *cdnpurge.Endpoint {
	t.Helper()
	e, err := cdnpurge.NewEndpoint(cdnpurge.EndpointConfig{URL: base, ServiceID: testService, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// send appends one event of release id (subject upc) to the topic.
func (f *fixture) send(t testing.TB, upc string, payload any) {
	t.Helper()
	var typ string
	switch payload.(type) {
	case release.Delivered:
		typ = release.TypeDelivered
	case release.MetadataChanged:
		typ = release.TypeMetadataChanged
	default:
		t.Fatalf("send %T", payload)
	}
	f.seq++
	env, err := events.NewEnvelope(typ, release.SchemaVersions[typ], "/catalog/ingest", upc, f.seq, time.Now(), "test", payload)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.producer.Send([]events.Outgoing{{Topic: f.topic, Envelope: env}}); err != nil {
		t.Fatal(err)
	}
}

// get fetches the track's details from base (the API or the CDN) and
// returns the body and the CDN's X-Cache.
func get(t testing.TB, base string, track int64) (body, cache string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/1.2/track/details?trackId=%d&country=GB&usageTypes=subscriptionstreaming", base, track), nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%d %s", resp.StatusCode, b), resp.Header.Get("X-Cache")
}

func delivered(id int64, upc, title string) release.Delivered {
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	return release.Delivered{
		ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: title, Artist: "Band"}, ArtistID: 9,
		Tracks: []release.TrackInfo{{TrackID: id*10 + 1, ISRC: fmt.Sprintf("GBAAA20%05d", id), Title: "One", Artist: "Band", ArtistID: 9, DurationSeconds: 100, Disc: 1, Number: 1}},
		Deals:  []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"Stream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start}},
	}
}

func renamed(id int64, upc, title string) release.MetadataChanged {
	return release.MetadataChanged{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: title, Artist: "Band"}, ArtistID: 9}
}

// showing waits until base answers track with a body containing want.
func showing(t testing.TB, base string, track int64, want string, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		if body, cache := get(t, base, track); !strings.Contains(body, want) {
			return fmt.Errorf("%s (X-Cache %s) does not show %q: %.200s", base, cache, want, body)
		}
		return nil
	})
}

// TestChangedReleaseIsPurgedFromVarnish: a committed change of a release
// is purged from a real Varnish, and the purge waits for the commit: while
// the projector is stopped the CDN keeps its cached answer (no early purge
// that would let it re-cache the old one for max-age), and once the change
// is committed the next request through Varnish shows it, long before the
// answer's max-age (60 s) would have.
func TestChangedReleaseIsPurgedFromVarnish(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stopProjector := f.startProjector(t)
	f.startPurger(t, f.endpoint(t, f.cdn), cdnpurge.Config{})

	const id, upc = 5, "5012345678900"
	track := int64(id*10 + 1)
	f.send(t, upc, delivered(id, upc, "First Title"))
	showing(t, f.cdn, track, "First Title", 20*time.Second)
	if body, cache := get(t, f.cdn, track); cache != "HIT" || !strings.Contains(body, "First Title") {
		t.Fatalf("second request through the CDN: X-Cache %q, %.200s", cache, body)
	}

	stopProjector()
	f.send(t, upc, renamed(id, upc, "Second Title"))
	time.Sleep(1500 * time.Millisecond) // the purger has the event; the read model has not
	if body, cache := get(t, f.cdn, track); cache != "HIT" || !strings.Contains(body, "First Title") {
		t.Fatalf("before the change is committed the CDN was purged (X-Cache %q): %.200s", cache, body)
	}

	f.startProjector(t)
	showing(t, f.apiURL, track, "Second Title", 20*time.Second)
	showing(t, f.cdn, track, "Second Title", 20*time.Second)
}

// TestPurgeEndpointDown: with the purge endpoint down, purges are delayed
// (the CDN keeps serving the old answer), retried up to the bound, then
// published to the poison topic, one per change, none lost; ListPoisoned
// lists them, Resend sends them to the endpoint once it is back, after
// which the CDN shows the change and nothing is left to list.
func TestPurgeEndpointDown(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startProjector(t)
	var attempts countingPurge
	attempts.next = f.endpoint(t, "http://"+testenv.FreeAddr(t)) // nothing listens there
	f.startPurger(t, &attempts, cdnpurge.Config{MaxRetries: 3, RetryInitial: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})

	const id, upc = 7, "5012345678917"
	track := int64(id*10 + 1)
	f.send(t, upc, delivered(id, upc, "First Title"))
	showing(t, f.apiURL, track, "First Title", 20*time.Second)
	showing(t, f.cdn, track, "First Title", 20*time.Second)
	f.send(t, upc, renamed(id, upc, "Second Title"))
	showing(t, f.apiURL, track, "Second Title", 20*time.Second)

	pc := cdnpurge.PoisonConfig{Kafka: f.kc, Topic: f.poisonTopic(), Group: f.group() + ".resend"}
	var poisoned []cdnpurge.Poisoned
	testenv.Eventually(t, 30*time.Second, func() error {
		var err error
		if poisoned, err = cdnpurge.ListPoisoned(f.ctx, pc); err != nil {
			return err
		}
		if len(poisoned) != 2 {
			return fmt.Errorf("%d poisoned purges, want 2 (one per change)", len(poisoned))
		}
		return nil
	})
	if body, cache := get(t, f.cdn, track); cache != "HIT" || !strings.Contains(body, "First Title") {
		t.Errorf("the endpoint is down, yet the CDN answer changed (X-Cache %q): %.200s", cache, body)
	}
	sources := map[string]bool{}
	for _, p := range poisoned {
		sources[p.Source] = true
		if !strings.Contains(" "+strings.Join(p.Keys, " ")+" ", " release-7 ") || p.Reason == "" {
			t.Errorf("poisoned %+v: want release-7 among its keys and a reason", p)
		}
	}
	if len(sources) != 2 {
		t.Errorf("poisoned purges come from %v, want two distinct events", sources)
	}
	if n := attempts.n.Load(); n < 2*(3+1) {
		t.Errorf("%d purge attempts, want at least %d (1 + 3 retries per change)", n, 2*(3+1))
	}

	sent, err := cdnpurge.Resend(f.ctx, pc, f.endpoint(t, f.cdn))
	if err != nil || sent != 2 {
		t.Fatalf("Resend = %d, %v; want 2", sent, err)
	}
	if body, cache := get(t, f.cdn, track); !strings.Contains(body, "Second Title") {
		t.Errorf("after the re-sent purge the CDN (X-Cache %q) answers %.200s", cache, body)
	}
	if left, err := cdnpurge.ListPoisoned(f.ctx, pc); err != nil || len(left) != 0 {
		t.Errorf("after Resend ListPoisoned = %v, %v; want none", left, err)
	}
}

// TestEndpointRefusesBadToken: the local Varnish accepts a purge only with
// its token, and the Endpoint reports the refusal.
func TestEndpointRefusesBadToken(t *testing.T) {
	t.Parallel()
	testenv.NeedServices(t)
	cdn := startVarnish(t, testenv.FreeAddr(t))
	e, err := cdnpurge.NewEndpoint(cdnpurge.EndpointConfig{URL: cdn, ServiceID: testService, Token: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Purge(context.Background(), []string{"release-1"}); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("purge with a wrong token: %v, want a 401 error", err)
	}
	if err := (&countingPurge{next: cdnpurgeEndpoint(t, cdn)}).Purge(context.Background(), []string{"release-1"}); err != nil {
		t.Errorf("purge with the token: %v", err)
	}
}

func cdnpurgeEndpoint(t testing.TB, base string) *cdnpurge.Endpoint {
	e, err := cdnpurge.NewEndpoint(cdnpurge.EndpointConfig{URL: base, ServiceID: testService, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/testenv"
)

// replicationCut is how long the region test keeps MirrorMaker stopped
// while deliveries go on centrally: 20 s, or CATALOG_TEST_REPLICATION_CUT
// (a Go duration, such as 1m).
func replicationCut(t testing.TB) time.Duration {
	t.Helper()
	v := os.Getenv("CATALOG_TEST_REPLICATION_CUT")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > time.Hour {
		t.Fatalf("CATALOG_TEST_REPLICATION_CUT=%q: want a duration from 1s to 1h", v)
	}
	return d
}

// eventIDs reads every record of topic with kcat (an independent reader)
// and counts each CloudEvents id.
func eventIDs(t testing.TB, brokers []string, topic string) map[string]int {
	t.Helper()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (make up installs it): %v", err)
	}
	cmd := exec.Command(kcat, "-b", strings.Join(brokers, ","), "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-J")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat: %v\n%s", err, stderr.String())
	}
	ids := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 32<<20)
	for sc.Scan() {
		var r struct {
			Headers []string `json:"headers"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("kcat printed %.200q: %v", sc.Text(), err)
		}
		id := ""
		for i := 0; i+1 < len(r.Headers); i += 2 {
			if r.Headers[i] == "ce_id" {
				id = r.Headers[i+1]
			}
		}
		if id == "" {
			t.Fatalf("a record of %s has no ce_id: %s", topic, sc.Text())
		}
		ids[id]++
	}
	return ids
}

// TestRegion runs a central stack (its own Kafka, `catalog dev`) and a
// region (its own Kafka, database and Redis prefix, the projector and API
// roles with CATALOG_REGION=india, and MirrorMaker 2 between the two
// clusters) and shows: (a) a delivery accepted centrally becomes visible
// through the regional API, the regional projector having waited for the
// mirrored topic rather than creating it, with the topic's settings carried
// over and the per-cluster parking topic left central; (b) the regional
// read model's hash equals the central one's; (c) with MirrorMaker stopped
// (SIGTERM) while deliveries go on, the region keeps serving its last state,
// and once MirrorMaker is back it catches up with every event exactly once
// in the mirror (counted by kcat) and equal hashes; (d) with the central
// Kafka and every central role killed (SIGKILL), the region still answers
// track/details.
func TestRegion(t *testing.T) {
	// The two clusters start side by side.
	centralK := testenv.NewKafka(t, 1, "")
	regionK := testenv.NewKafka(t, 1, "")
	errs := make(chan error, 2)
	go func() { errs <- centralK.StartAll() }()
	go func() { errs <- regionK.StartAll() }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The central PostgreSQL is a server of the test's own with
	// wal_level=logical: the region's copy of the clients tables comes
	// from it by logical replication, and the outage stops it.
	centralPG := testenv.StartPostgres(t, testenv.PostgresOptions{Settings: map[string]string{"wal_level": "logical"}})
	s := newStack(t)
	s.brokers = centralK.Brokers()
	s.pgURL = centralPG.URL("catalog")
	gateways := "" // CATALOG_REGION_URLS, once the regional gateway's address is known
	topic := s.prefix + "releases"

	// The region: same topic and group names, its own everything else.
	r := s
	r.pgURL = testenv.PostgresURL(t)
	r.brokers = regionK.Brokers()
	r.api, r.projector, r.gateway = testenv.FreeAddr(t), testenv.FreeAddr(t), testenv.FreeAddr(t)
	gateways = "CATALOG_REGION_URLS=central=http://" + s.gateway + ",india=http://" + r.gateway
	s.env = append(s.env, "CATALOG_KAFKA_BROKERS="+strings.Join(s.brokers, ","), "CATALOG_PG_URL="+s.pgURL,
		"CATALOG_LOG_LEVEL=info", gateways)
	r.env = append(append([]string(nil), s.env...),
		"CATALOG_REGION=india",
		"CATALOG_PG_URL="+r.pgURL,
		"CATALOG_KAFKA_BROKERS="+strings.Join(r.brokers, ","),
		"CATALOG_REDIS_PREFIX="+s.prefix+"india:",
		"CATALOG_QUOTA_PREFIX="+s.prefix+"india:quota:",
		"CATALOG_API_ADDR="+r.api,
		"CATALOG_API_URL=http://"+r.api,
		"CATALOG_PROJECTOR_ADDR="+r.projector,
		"CATALOG_GATEWAY_ADDR="+r.gateway,
		"CATALOG_GATEWAY_METRICS_ADDR="+testenv.FreeAddr(t),
	)
	unsubscribeAtCleanup(t, r.pgURL, "india")

	// Ingest refuses to run in a region, by name.
	cmd := exec.Command(catalogBin, "ingest")
	cmd.Env = r.env
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "CATALOG_REGION=india: ingest runs only in the central region") {
		t.Fatalf("ingest in a region: %v\n%s; want a refusal naming CATALOG_REGION", err, out)
	}

	// The regional projector starts first: it must wait for MirrorMaker.
	rproj := r.start(t, "project")
	r.start(t, "api")
	waitHTTP(t, "http://"+r.api+"/healthz")
	dev := s.start(t, "dev")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	mm := testenv.StartMirrorMaker(t, testenv.MirrorOptions{Central: s.brokers, Region: r.brokers, Name: "india", Prefix: s.prefix})

	// A customer of the region: registered and pinned centrally, known to
	// the regional gateway through the replicated clients tables.
	waitHTTP(t, "http://"+s.gateway+"/healthz")
	s.run(t, "clients", "add", "--key", "india-customer-key", "india customer")
	s.run(t, "clients", "pin", "india-customer-key", "india")
	if out := r.run(t, "clients", "replicate", "--from", s.pgURL); !strings.Contains(out, "ready: true") {
		t.Fatalf("clients replicate: %s", out)
	}
	r.start(t, "gateway")
	waitHTTP(t, "http://"+r.gateway+"/healthz")

	// (a) Accepted centrally, visible regionally: through the regional
	// gateway, for the client pinned there.
	accepted := time.Now()
	first := deliver(t, s.ingest, restartRelease(1, 1))
	trackID := first.TrackIDs[fmt.Sprintf("GBRST%07d", 2)]
	const key = "&oauth_consumer_key=india-customer-key"
	regional := fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", r.gateway, trackID) + key
	titleIs := func(want string) func() error {
		return func() error {
			status, _, body := get(t, regional)
			if status != http.StatusOK {
				return fmt.Errorf("regional gateway: %d %s", status, body)
			}
			if got := parse(t, body); got.Track == nil || got.Track.Release.Title != want {
				return fmt.Errorf("regional gateway: release title %+v, want %q", got.Track, want)
			}
			return nil
		}
	}
	testenv.Eventually(t, 90*time.Second, titleIs("Release 1 v1"))
	t.Logf("accepted centrally -> visible through the regional gateway: %s (MirrorMaker starting included)", time.Since(accepted).Round(time.Millisecond))
	// The central gateway sends the pinned client to its region.
	resp, _ := getNoFollow(t, fmt.Sprintf("http://%s/1.2/track/details?trackId=%d&country=GB", s.gateway, trackID)+key)
	if want := regional; resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Errorf("pinned client at the central gateway: %d Location %q, want 307 %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}
	if !strings.Contains(rproj.out.String(), "MirrorMaker owns the mirrored topics here") {
		t.Errorf("the regional projector did not say it waits for MirrorMaker's topic:\n%s", rproj.out)
	}
	accepted = time.Now()
	deliver(t, s.ingest, restartRelease(1, 2))
	testenv.Eventually(t, 30*time.Second, titleIs("Release 1 v2"))
	t.Logf("accepted centrally -> visible regionally, MirrorMaker running: %s", time.Since(accepted).Round(time.Millisecond))

	ctx := ctxT(t)
	radmin, err := events.NewAdmin(ctx, events.KafkaConfig{Brokers: r.brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer radmin.Close()
	parts, conf, err := radmin.TopicSettings(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete",
		"max.message.bytes": fmt.Sprint(events.TopicMaxMessageBytes)} {
		if conf[k] != want {
			t.Errorf("mirrored topic %s: %s=%q, want %q (carried over from central)", topic, k, conf[k], want)
		}
	}
	if parts != 3 {
		t.Errorf("mirrored topic %s has %d partitions, want central's 3", topic, parts)
	}
	if _, _, err := radmin.TopicSettings(ctx, s.prefix+"cdn-purge.poison"); err == nil {
		t.Errorf("the parking topic %scdn-purge.poison exists in the region; it is per-cluster and must stay central", s.prefix)
	}

	// (b) Equal read models.
	hashesEqual := func() error {
		for _, name := range registeredProjections(t) {
			c, g := strings.TrimSpace(s.run(t, "projections", "hash", name)), strings.TrimSpace(r.run(t, "projections", "hash", name))
			if c != g {
				return fmt.Errorf("%s: central hash %s, regional %s", name, c, g)
			}
		}
		return nil
	}
	testenv.Eventually(t, 30*time.Second, hashesEqual)

	// (c) Replication cut.
	cut := replicationCut(t)
	mm.Stop()
	cutAt := time.Now()
	for i := 2; i <= 6; i++ {
		deliver(t, s.ingest, restartRelease(i, 1))
	}
	deliver(t, s.ingest, restartRelease(1, 3))
	for time.Since(cutAt) < cut {
		if err := titleIs("Release 1 v2")(); err != nil {
			t.Fatalf("during the cut the region must serve its last state: %v", err)
		}
		time.Sleep(time.Second)
	}
	restarted := time.Now()
	mm.Start()
	testenv.Eventually(t, 90*time.Second, titleIs("Release 1 v3"))
	testenv.Eventually(t, 30*time.Second, hashesEqual)
	t.Logf("replication cut of %s; caught up %s after MirrorMaker restarted", cut, time.Since(restarted).Round(time.Millisecond))
	centralIDs, mirrorIDs := eventIDs(t, s.brokers, topic), eventIDs(t, r.brokers, topic)
	for id, n := range mirrorIDs {
		if n != 1 || centralIDs[id] != 1 {
			t.Errorf("event %s: %d times in the mirror, %d in central; want once in each", id, n, centralIDs[id])
		}
	}
	for id := range centralIDs {
		if mirrorIDs[id] == 0 {
			t.Errorf("event %s of central is missing from the mirror", id)
		}
	}
	t.Logf("%d events in central, %d in the mirror, each once", len(centralIDs), len(mirrorIDs))

	// An analyst's consumer group on central has its offsets translated
	// into the region (MirrorMaker's checkpoints, synced to the region's
	// group): an analyst moving to the region resumes there, never past
	// what it had read centrally.
	analysts := "analysts-" + testenv.Suffix()
	committed := commitGroupAtEnd(t, s.brokers, analysts, topic)
	testenv.Eventually(t, 60*time.Second, func() error {
		got, err := groupOffsets(r.brokers, analysts, topic, parts)
		if err != nil {
			return err
		}
		for p, off := range committed {
			if got[p] < 0 || (off > 0 && got[p] == 0) || got[p] > off {
				return fmt.Errorf("partition %d: the region's %s offset is %d, central's %d: want it translated, at most central's", p, analysts, got[p], off)
			}
		}
		return nil
	})

	// regions status: MirrorMaker's lag (its committed source offsets
	// trail by up to offset.flush.interval.ms) and the regional projector's.
	var out string
	testenv.Eventually(t, 30*time.Second, func() error {
		out = s.runEnv(t, []string{"CATALOG_REGIONS=india=" + strings.Join(r.brokers, "|")}, "regions", "status", "--json")
		var sts []struct {
			Region    string `json:"region"`
			MirrorLag int64  `json:"mirrorLag"`
			Mirror    []struct {
				CentralEnd int64 `json:"centralEnd"`
				MirrorEnd  int64 `json:"mirrorEnd"`
			} `json:"mirror"`
			Projectors []struct {
				Group string `json:"group"`
				Lag   int64  `json:"lag"`
			} `json:"projectors"`
		}
		if err := json.Unmarshal([]byte(out), &sts); err != nil || len(sts) != 1 || sts[0].Region != "india" {
			return fmt.Errorf("regions status --json: %v: %s", err, out)
		}
		st := sts[0]
		if st.MirrorLag != 0 || len(st.Mirror) != parts {
			return fmt.Errorf("mirror lag %d over %d partitions: %s", st.MirrorLag, len(st.Mirror), out)
		}
		if len(st.Projectors) == 0 {
			return fmt.Errorf("no regional projector group: %s", out)
		}
		for _, p := range st.Projectors {
			if p.Lag != 0 {
				return fmt.Errorf("projector group %s lag %d: %s", p.Group, p.Lag, out)
			}
		}
		return nil
	})
	t.Logf("regions status --json: %s", out)
	t.Logf("regions status:\n%s", s.runEnv(t, []string{"CATALOG_REGIONS=india=" + strings.Join(r.brokers, "|")}, "regions", "status"))

	// (d) Central outage: every central role and the central Kafka killed,
	// the central PostgreSQL stopped.
	dev.kill(t)
	centralK.Kill(0)
	centralPG.Stop(t)
	for i := 0; i < 5; i++ {
		if err := titleIs("Release 1 v3")(); err != nil {
			t.Fatalf("with central down the region must keep answering: %v", err)
		}
		time.Sleep(time.Second)
	}
}

// runEnv is run with extra environment variables.
func (s stack) runEnv(t testing.TB, env []string, args ...string) string {
	t.Helper()
	s.env = append(append([]string(nil), s.env...), env...)
	return s.run(t, args...)
}

// commitGroupAtEnd commits group's offsets on topic at the topic's end, as
// a consumer that has read everything would, and returns them.
func commitGroupAtEnd(t testing.TB, brokers []string, group, topic string) map[int32]int64 {
	t.Helper()
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	client, err := sarama.NewClient(brokers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	parts, err := client.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	om, err := sarama.NewOffsetManagerFromClient(group, client)
	if err != nil {
		t.Fatal(err)
	}
	ends := map[int32]int64{}
	for _, p := range parts {
		end, err := client.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		pom, err := om.ManagePartition(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		pom.MarkOffset(end, "")
		ends[p] = end
		pom.AsyncClose()
	}
	om.Commit()
	if err := om.Close(); err != nil {
		t.Fatal(err)
	}
	return ends
}

// groupOffsets reads group's committed offsets on topic (-1: none).
func groupOffsets(brokers []string, group, topic string, partitions int) (map[int32]int64, error) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(brokers, cfg)
	if err != nil {
		return nil, err
	}
	defer admin.Close()
	ps := make([]int32, partitions)
	for i := range ps {
		ps[i] = int32(i)
	}
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: ps})
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	for _, p := range ps {
		b := resp.GetBlock(topic, p)
		if b == nil {
			return nil, fmt.Errorf("no offset of %s for %s/%d", group, topic, p)
		}
		out[p] = b.Offset
	}
	return out, nil
}

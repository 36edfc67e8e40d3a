package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/testenv"
)

// allTerritories is every ISO 3166-1 alpha-2 code ParseTerritory accepts
// (249 of them: the whole world, one deal's widest explicit list).
var allTerritories = strings.Fields(`AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
 CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR
 GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP
 KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
 NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW
 SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
 UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW`)

// boxSetJSON is a JSON delivery of a box set: tracks tracks over discs of
// 20, each with dealsPerTrack deals of its own (download at a price,
// subscription and ad-supported streaming, ...) listing territories
// countries one by one, the way large ERN deliveries spell their deals.
// titlePad lengthens every track title, to push the events past a bound.
func boxSetJSON(upc, messageID string, tracks, territories, dealsPerTrack, titlePad int) string {
	type price struct {
		Amount   string `json:"amount"`
		Currency string `json:"currency"`
	}
	type deal struct {
		Track            string   `json:"track"`
		Territories      []string `json:"territories"`
		UseTypes         []string `json:"useTypes"`
		CommercialModels []string `json:"commercialModels"`
		Start            string   `json:"start"`
		Price            *price   `json:"price,omitempty"`
	}
	type track struct {
		ISRC     string `json:"isrc"`
		Title    string `json:"title"`
		Artist   string `json:"artist"`
		Duration string `json:"duration"`
		Disc     int    `json:"disc"`
		Number   int    `json:"number"`
		PLine    string `json:"pLine"`
	}
	kinds := []struct {
		use, model string
		priced     bool
	}{
		{"PermanentDownload", "PayAsYouGoModel", true},
		{"OnDemandStream", "SubscriptionModel", false},
		{"OnDemandStream", "AdvertisementSupportedModel", false},
		{"NonInteractiveStream", "SubscriptionModel", false},
	}
	terr := make([]string, territories)
	for i := range terr {
		terr[i] = allTerritories[i%len(allTerritories)]
	}
	var ts []track
	var ds []deal
	for i := 0; i < tracks; i++ {
		isrc := fmt.Sprintf("GBAYE%07d", 1000000+i)
		ts = append(ts, track{ISRC: isrc, Title: fmt.Sprintf("Box Set Track %d", i+1) + strings.Repeat("x", titlePad),
			Artist: "The Complete Recordings Orchestra", Duration: "PT3M41S", Disc: i/20 + 1, Number: i%20 + 1,
			PLine: "(P) 2024 Box Set Records Ltd"})
		for k := 0; k < dealsPerTrack; k++ {
			kd := kinds[k%len(kinds)]
			d := deal{Track: isrc, Territories: terr, UseTypes: []string{kd.use}, CommercialModels: []string{kd.model}, Start: "2024-11-01"}
			if kd.priced {
				d.Price = &price{Amount: "0.99", Currency: "GBP"}
			}
			ds = append(ds, d)
		}
	}
	b, err := json.Marshal(map[string]any{
		"messageId": messageID, "sender": "PADPIDA2014120301G", "upc": upc,
		"title": "The Complete Recordings", "artist": "The Complete Recordings Orchestra", "label": "Box Set Records",
		"type": "Album", "releaseDate": "2024-11-01", "tracks": ts, "deals": ds,
	})
	if err != nil {
		panic(err)
	}
	return string(b)
}

// countingHandler counts the records a consumer applied, by key.
type countingHandler struct {
	mu    sync.Mutex
	bytes map[string]int
}

func (h *countingHandler) HandleBatch(_ context.Context, b events.Batch) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range b.Records {
		h.bytes[string(r.Key)] += len(r.Value)
	}
	return nil
}

func (h *countingHandler) get(key string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes[key]
}

// fromStart is an offset store with nothing stored: read from offset zero.
type fromStart struct{}

func (fromStart) StoredOffsets(context.Context, string) (map[int32]int64, error) {
	return map[int32]int64{}, nil
}

// A box set of 900 tracks, each with four deals (download, two streaming
// models, radio) listing all 249 countries, is about 5.2 MB of JSON and of
// event: it is accepted, reaches Kafka as one record and is consumed by a
// consumer group with catalog's fetch settings.
func TestBoxSetIsAcceptedAndReachesKafka(t *testing.T) {
	testenv.NeedServices(t)
	f := newFixture(t)
	const upc = "00602445790128"
	body := boxSetJSON(upc, "box-1", 900, len(allTerritories), 4, 0)
	status, out := f.post(t, "application/json", body)
	if status != http.StatusAccepted {
		t.Fatalf("box set of %d bytes: status %d, body %v", len(body), status, out)
	}
	recs := readAll(t, f.kafka, f.topic, 1)
	if string(recs[0].Key) != upc || recs[0].Headers["ce_type"] != release.TypeDelivered || len(recs[0].Value) < 5_000_000 {
		t.Fatalf("record: key %s type %s, %d bytes; want %s, %s, over 5 MB", recs[0].Key, recs[0].Headers["ce_type"], len(recs[0].Value), upc, release.TypeDelivered)
	}
	var ev release.Delivered
	if err := json.Unmarshal(recs[0].Value, &ev); err != nil || len(ev.Tracks) != 900 || len(ev.Deals) != 3600 {
		t.Fatalf("delivered event: %d tracks, %d deals, err %v; want 900, 3600", len(ev.Tracks), len(ev.Deals), err)
	}
	t.Logf("box set: body %d bytes, event %d bytes", len(body), len(recs[0].Value))

	h := &countingHandler{bytes: map[string]int{}}
	c, err := events.NewConsumer(events.ConsumerConfig{Kafka: f.kafka, Group: f.topic + "-boxset", Topics: []string{f.topic}},
		h, fromStart{}, slog.New(slog.NewTextHandler(f.logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; _ = f.admin.DeleteGroup(context.Background(), f.topic+"-boxset") })
	testenv.Eventually(t, 30*time.Second, func() error {
		if n := h.get(upc); n != len(recs[0].Value) {
			return fmt.Errorf("consumer applied %d bytes of %s, want %d", n, upc, len(recs[0].Value))
		}
		return nil
	})
}

// A release over a bound is rejected with a reason naming the message, the
// field and the bound, and leaves nothing behind.
func TestReleaseOverTheBoundsIsRejected(t *testing.T) {
	testenv.NeedServices(t)
	f := newFixture(t)
	cases := []struct {
		name, body, field, reason string
	}{
		{"too many tracks", boxSetJSON("00602445790135", "big-1", ingest.MaxTracks+1, 1, 1, 0),
			"tracks", fmt.Sprintf("1001 tracks; a release may have at most %d", ingest.MaxTracks)},
		{"too many territories in a deal", strings.Replace(boxSetJSON("00602445790142", "big-2", 1, 249, 1, 0),
			`"territories":[`, `"territories":[`+strings.Repeat(`"GB",`, 2), 1),
			"deals[0].territories", fmt.Sprintf("251 territories; a deal may list at most %d", ingest.MaxDealTerritories)},
		{"event too large", boxSetJSON("00602445790159", "big-3", 1000, len(allTerritories), 4, 800),
			"(release)", fmt.Sprintf("an event may be at most %d bytes", ingest.MaxEventBytes)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := f.post(t, "application/json", c.body)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, body %v; want 400", status, out)
			}
			msg, _ := out["message"].(map[string]any)
			probs, _ := out["problems"].([]any)
			if msg["id"] == nil || len(probs) == 0 {
				t.Fatalf("rejection names no message or problem: %v", out)
			}
			p, _ := probs[0].(map[string]any)
			if p["field"] != c.field || !strings.Contains(fmt.Sprint(p["reason"]), c.reason) {
				t.Fatalf("problem %v; want field %q, reason containing %q", p, c.field, c.reason)
			}
		})
	}
	var outbox int
	if err := f.pool.QueryRow(context.Background(), `select count(*) from outbox`).Scan(&outbox); err != nil {
		t.Fatal(err)
	}
	if n := f.streams(t); n != 0 || outbox != 0 || f.logSize(t) != 0 {
		t.Fatalf("after rejections: %d streams, %d outbox rows, %d records in Kafka; want none", n, outbox, f.logSize(t))
	}
}

// A row Kafka can never accept (here one inserted straight into the outbox,
// over the producer's limit) blocks its release, loudly: no later event of
// that release reaches Kafka before it (no ce_sequence gap), other releases
// flow on, the row is marked and logged, and new deliveries of the release
// are refused with a 503 that says why, changing nothing.
func TestUnsendableRowBlocksItsReleaseInOrder(t *testing.T) {
	testenv.NeedServices(t)
	f := newFixture(t)
	ctx := context.Background()
	if status, out := f.post(t, "application/json", validRelease); status != http.StatusAccepted {
		t.Fatalf("status %d, body %v", status, out)
	}
	const other = "00602445790166"
	var key string
	if err := f.pool.QueryRow(ctx, `select stream_key from release_streams`).Scan(&key); err != nil {
		t.Fatal(err)
	}
	big := map[string]string{"pad": strings.Repeat("x", events.ProducerMaxMessageBytes)}
	env := func(subject string, seq int64, data any) events.Envelope {
		e, err := events.NewEnvelope(release.TypeMetadataChanged, 1, ingest.Source, subject, seq, time.Now(), "test/by-hand", data)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	var ids []int64
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		var err error
		ids, err = eventpg.Append(ctx, tx, f.topic, []events.Envelope{
			env(key, 2, big), env(key, 3, map[string]string{"title": "after"}), env(other, 1, map[string]string{"title": "other"}),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	f.relay.Nudge()
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := f.logSize(t); n < 2 {
			return fmt.Errorf("%d records in Kafka, want the other release's too", n)
		}
		return nil
	})
	time.Sleep(2 * time.Second) // several relay rounds
	for _, r := range readAll(t, f.kafka, f.topic, int(f.logSize(t))) {
		if string(r.Key) == key && r.Headers["ce_sequence"] != "1" {
			t.Fatalf("ce_sequence %s of %s reached Kafka while sequence 2 cannot: a gap in the log", r.Headers["ce_sequence"], key)
		}
	}
	if n := f.logSize(t); n != 2 {
		t.Fatalf("%d records in Kafka, want 2 (the release's first event and the other release's)", n)
	}

	var reason *string
	if err := f.pool.QueryRow(ctx, `select blocked_reason from outbox where id = $1`, ids[0]).Scan(&reason); err != nil {
		t.Fatal(err)
	}
	if reason == nil || !strings.Contains(*reason, "over the producer's limit") {
		t.Fatalf("row %d blocked_reason = %v, want it blocked as over the producer's limit", ids[0], reason)
	}
	if logs := f.logs.String(); !strings.Contains(logs, "level=ERROR") || !strings.Contains(logs, fmt.Sprintf("row=%d ", ids[0])) {
		t.Fatalf("no ERROR log naming row %d:\n%s", ids[0], logs)
	}
	st, err := f.relay.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Blocked != 1 || st.Held != 1 || st.Pending != 2 {
		t.Fatalf("stats %+v, want 1 blocked, 1 held, 2 pending", st)
	}

	update := strings.Replace(strings.Replace(validRelease, `"msg-1"`, `"msg-2"`, 1), "Come Down", "Come Down (Deluxe)", 1)
	start := time.Now()
	status, out := f.post(t, "application/json", update)
	if status != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(out["error"]), "held in the outbox") {
		t.Fatalf("update of a blocked release: status %d, body %v; want 503 saying it is held in the outbox", status, out)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the refusal took %v; it should not wait for a confirmation that cannot come", d)
	}
	var version int64
	var pending int
	if err := f.pool.QueryRow(ctx, `select version, (select count(*) from outbox) from release_streams where stream_key = $1`, key).Scan(&version, &pending); err != nil {
		t.Fatal(err)
	}
	if version != 1 || pending != 2 {
		t.Fatalf("after the refused update: version %d, %d outbox rows; want 1 and 2 (nothing changed)", version, pending)
	}
}

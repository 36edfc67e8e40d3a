package projections_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/trackdetails/trackdetailspg"
	"github.com/catalog-org/catalog/testenv"
)

// TestOldSchemaVersionStillProjects writes a catalog.release.delivered
// event in schema version 1 (the walking skeleton's shape: availability as
// dates per territory) next to a version 2 event, and shows that the
// projector reads both, the first through the v1 -> v2 upcaster.
func TestOldSchemaVersionStillProjects(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	ctx, kc, topic, store := f.ctx, f.kafka, f.topic, f.store

	v1 := json.RawMessage(`{"releaseId":1,"upc":"00724349501058","title":"Come Down","artist":{"id":7,"name":"The Band"},"label":"Capitol",
		"tracks":[{"trackId":11,"isrc":"USCA29600191","title":"I Love You","artist":{"id":7,"name":"The Band"},"durationSeconds":252,"disc":1,"number":5}],
		"availability":[{"territory":"GB","downloadFrom":"1997-07-03T00:00:00Z","streamingFrom":"1997-07-10T00:00:00Z"},
		                {"territory":"US","downloadFrom":"1997-07-03T00:00:00Z"}]}`)
	old := events.Envelope{ID: uuid.New(), Type: release.TypeDelivered, SchemaVersion: 1, Source: "/catalog/ingest",
		Subject: "00724349501058", Sequence: 1, Time: time.Now(), Data: v1}
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	current := mustEnvelope(t, release.TypeDelivered, 1, "5012345678900", release.Delivered{
		ReleaseID: 2, Metadata: release.Metadata{UPC: "5012345678900", Title: "New", Artist: "Other"}, ArtistID: 8,
		Tracks: []release.TrackInfo{{TrackID: 12, ISRC: "GBAAA2000001", Title: "Fresh", Artist: "Other", ArtistID: 8, DurationSeconds: 200, Disc: 1, Number: 1}},
		Deals:  []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"Stream"}, CommercialModels: []string{"AdvertisementSupportedModel"}, Start: &start}},
	})
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if _, err := prod.Send([]events.Outgoing{{Topic: topic, Envelope: old}, {Topic: topic, Envelope: current}}); err != nil {
		t.Fatal(err)
	}

	f.run(t)

	now := time.Now()
	var tr catalogue.Track
	testenv.Eventually(t, 30*time.Second, func() error {
		var err error
		tr, err = store.Track(ctx, 11, "GB", now)
		return err
	})
	if tr.Title != "I Love You" || tr.DurationSeconds != 252 || tr.Release.UPC != "00724349501058" || tr.Artist.Name != "The Band" {
		t.Errorf("v1 track = %+v", tr)
	}
	if tr.Download == nil || tr.Download.From.Format(time.DateOnly) != "1997-07-03" || tr.Subscription == nil ||
		tr.Subscription.From.Format(time.DateOnly) != "1997-07-10" || tr.AdSupported != nil {
		t.Errorf("v1 GB offers: download %+v subscription %+v ad %+v", tr.Download, tr.Subscription, tr.AdSupported)
	}
	if ids, err := store.TrackIDsByISRC(ctx, "USCA29600191"); err != nil || len(ids) != 1 || ids[0] != 11 {
		t.Errorf("by ISRC: %v %v", ids, err)
	}
	if ts, err := store.TracksByUPC(ctx, "00724349501058", "GB", now); err != nil || len(ts) != 1 || ts[0].ID != 11 {
		t.Errorf("by UPC: %v %v", ts, err)
	}
	us, err := store.Track(ctx, 11, "US", now)
	if err != nil || us.Download == nil || us.Subscription != nil {
		t.Errorf("v1 US offers: %+v %v", us, err)
	}
	testenv.Eventually(t, 30*time.Second, func() error {
		var err error
		tr, err = store.Track(ctx, 12, "JP", now)
		return err
	})
	if tr.AdSupported == nil || tr.Download != nil || tr.Subscription != nil {
		t.Errorf("v2 JP offers: %+v", tr)
	}
}

// projectionFixture is a test's own topic (two partitions), database
// (migrated) and live generation.
type projectionFixture struct {
	ctx   context.Context
	log   *slog.Logger
	kafka events.KafkaConfig
	admin *events.Admin
	topic string
	group string
	store *trackdetailspg.Store
	live  projectionpg.Generation
	pool  *pgxpool.Pool
}

func newProjectionFixture(t *testing.T) projectionFixture {
	t.Helper()
	f := projectionFixture{ctx: context.Background(), log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	f.kafka = events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "test"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, f.kafka.Brokers, prefix)
	f.topic, f.group = prefix+"releases", prefix+"projector"
	admin, err := events.NewAdmin(f.ctx, f.kafka)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	f.admin = admin
	if err := admin.EnsureTopics(f.ctx, []events.TopicSpec{{Name: f.topic, Partitions: 2, ReplicationFactor: 1}}, f.log); err != nil {
		t.Fatal(err)
	}
	pool := testenv.Postgres(t)
	f.pool = pool
	if err := projectionpg.Migrate(f.ctx, pool); err != nil {
		t.Fatal(err)
	}
	f.store, _ = trackdetailspg.New(pool)
	if f.live, err = f.store.EnsureLive(f.ctx); err != nil {
		t.Fatal(err)
	}
	return f
}

// run consumes the topic into the live generation until the test ends.
func (f projectionFixture) run(t *testing.T) {
	t.Helper()
	writer := f.store.Writer(f.live.Number)
	proj, _ := projections.NewHandler(writer, nil, f.log)
	consumer, err := events.NewConsumer(events.ConsumerConfig{Kafka: f.kafka, Group: f.group, Topics: []string{f.topic}}, proj, writer, f.log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- consumer.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func mustEnvelope(t *testing.T, typ string, seq int64, subject string, payload any) events.Envelope {
	t.Helper()
	e, err := events.NewEnvelope(typ, release.SchemaVersions[typ], "/catalog/ingest", subject, seq, time.Now(), "test", payload)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

var errorf = fmt.Errorf

// TestPurgeAloneInABatchRemovesTracks: a batch whose only change is a
// release's purge removes that release's tracks from the read model (the
// tracks' delete once kept them when the batch had no tracks left to write).
func TestPurgeAloneInABatchRemovesTracks(t *testing.T) {
	t.Parallel()
	f := newProjectionFixture(t)
	w := f.store.Writer(f.live.Number)
	start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	const upc = "5012345678900"
	apply := func(offset int64, ev events.Payload) {
		t.Helper()
		c := projections.Change{Sequence: offset + 1, Event: ev}
		item := projections.Item{Record: events.Record{Topic: f.topic, Partition: 0, Offset: offset, Key: []byte(upc)}, Key: upc, Change: &c}
		if _, err := w.Apply(f.ctx, projections.Checkpoint{Topic: f.topic, Partition: 0, NextOffset: offset + 1}, []projections.Item{item}); err != nil {
			t.Fatal(err)
		}
	}
	apply(0, release.Delivered{
		ReleaseID: 3, Metadata: release.Metadata{UPC: upc, Title: "Gone Soon", Artist: "Band"}, ArtistID: 9,
		Tracks: []release.TrackInfo{
			{TrackID: 31, ISRC: "GBAAA2000031", Title: "One", Artist: "Band", ArtistID: 9, DurationSeconds: 100, Disc: 1, Number: 1},
			{TrackID: 32, ISRC: "GBAAA2000032", Title: "Two", Artist: "Band", ArtistID: 9, DurationSeconds: 100, Disc: 1, Number: 2},
		},
		Deals: []release.Deal{{Territories: []string{"Worldwide"}, UseTypes: []string{"Stream"}, CommercialModels: []string{"SubscriptionModel"}, Start: &start}},
	})
	if _, err := f.store.Track(f.ctx, 31, "GB", time.Now()); err != nil {
		t.Fatalf("track 31 after delivery: %v", err)
	}
	apply(1, release.Purged{ReleaseID: 3, UPC: upc})
	for _, id := range []int64{31, 32} {
		if tr, err := f.store.Track(f.ctx, id, "GB", time.Now()); err == nil {
			t.Errorf("track %d of a purged release still served: %+v", id, tr)
		}
	}
	if ts, err := f.store.TracksByUPC(f.ctx, upc, "GB", time.Now()); err != nil || len(ts) != 0 {
		t.Errorf("tracks by UPC of a purged release: %v %v", ts, err)
	}
	var rows int
	if err := f.pool.QueryRow(f.ctx, fmt.Sprintf("select count(*) from td_g%d.tracks where release_id = 3", f.live.Number)).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Errorf("the purged release still has %d track rows in the read model", rows)
	}
}

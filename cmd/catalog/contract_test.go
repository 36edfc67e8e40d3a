package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections/projectionpg"
	"github.com/catalog-org/catalog/projections/projector"
	"github.com/catalog-org/catalog/testenv"
)

// contractLog is a small log of two releases as ingest writes it: X
// delivered, renamed twice (its second event is the one a test may
// corrupt), and Y delivered.
type contractLog struct {
	x1, x2, x3, y1 events.Envelope
	// x2Payload is x2's valid payload, for the fix.
	x2Payload []byte
}

func newContractLog(t *testing.T) contractLog {
	t.Helper()
	x, y := "00724349501058", "5012345678900"
	delivered := func(id int64, upc, isrc string) release.Delivered {
		return release.Delivered{ReleaseID: id, Metadata: release.Metadata{UPC: upc, Title: "First", Artist: "A", Label: "L"}, ArtistID: 1,
			Tracks: []release.TrackInfo{{TrackID: id * 10, ISRC: isrc, Title: "T", Artist: "A", ArtistID: 1, DurationSeconds: 100, Disc: 1, Number: 1}},
			Deals:  []release.Deal{{Territories: []string{"GB"}, UseTypes: []string{"PermanentDownload"}}}}
	}
	renamed := func(title string) release.MetadataChanged {
		return release.MetadataChanged{ReleaseID: 1, Metadata: release.Metadata{UPC: x, Title: title, Artist: "A", Label: "L"}, ArtistID: 1}
	}
	env := func(typ string, seq int64, subject string, p any) events.Envelope {
		e, err := events.NewEnvelope(typ, release.SchemaVersions[typ], "/catalog/ingest", subject, seq, time.Unix(1700000000, 0), "test", p)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	l := contractLog{
		x1: env(release.TypeDelivered, 1, x, delivered(1, x, "GBAAA2000001")),
		x2: env(release.TypeMetadataChanged, 2, x, renamed("Second")),
		x3: env(release.TypeMetadataChanged, 3, x, renamed("Third")),
		y1: env(release.TypeDelivered, 1, y, delivered(2, y, "GBAAA2000002")),
	}
	l.x2Payload = append([]byte(nil), l.x2.Data...)
	return l
}

// contractRun is one projection fed from a topic of its own, on a
// database of its own.
type contractRun struct {
	p     *projector.Projector
	kafka events.KafkaConfig
	topic string
}

func startContractRun(t *testing.T, def projector.Projection, log []events.Envelope) contractRun {
	t.Helper()
	ctx := context.Background()
	lg := slog.New(slog.NewTextHandler(io.Discard, nil))
	kc := events.KafkaConfig{Brokers: testenv.KafkaBrokers(t), ClientID: "contract"}
	prefix := testenv.TopicPrefix(t)
	testenv.CleanupKafka(t, kc.Brokers, prefix)
	topic := prefix + "releases"
	admin, err := events.NewAdmin(ctx, kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.EnsureTopics(ctx, []events.TopicSpec{{Name: topic, Partitions: 1, ReplicationFactor: 1}}, lg); err != nil {
		t.Fatal(err)
	}
	prod, err := events.NewProducer(kc)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	out := make([]events.Outgoing, len(log))
	for i, e := range log {
		out[i] = events.Outgoing{Topic: topic, Envelope: e}
	}
	if _, err := prod.Send(out); err != nil {
		t.Fatal(err)
	}
	pool := testenv.Postgres(t)
	if err := projectionpg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	p, err := projector.New(projector.Config{Kafka: kc, Admin: admin, Topic: topic, GroupPrefix: prefix, Every: 100 * time.Millisecond},
		pool, def, lg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(rctx, nil) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil && rctx.Err() == nil {
			t.Errorf("projector: %v", err)
		}
	})
	return contractRun{p: p, kafka: kc, topic: topic}
}

// caughtUp waits until the live generation has consumed the whole topic.
func (r contractRun) caughtUp(t *testing.T) {
	t.Helper()
	testenv.Eventually(t, 60*time.Second, func() error {
		st, err := r.p.Status(context.Background())
		if err != nil {
			return err
		}
		for _, g := range st.Generations {
			if g.State != "live" {
				continue
			}
			if g.Lag != 0 || len(g.Partitions) == 0 {
				return fmt.Errorf("generation %d: lag %d over %d partitions", g.Number, g.Lag, len(g.Partitions))
			}
			return nil
		}
		return fmt.Errorf("no live generation yet")
	})
}

// TestPoisonParkingAndRetryForEveryProjection is the projection contract
// on poison events, run for every registered projection: an event that
// cannot be decoded is parked with the later events of its release behind
// it, other releases flow on and the partition is consumed to its end; a
// retry without a fix parks them again; after the fix, a retry applies
// them in order, and the read model is then exactly the one a log without
// the poison builds (the same content hash).
func TestPoisonParkingAndRetryForEveryProjection(t *testing.T) {
	testenv.NeedServices(t)
	for _, def := range registered(nil) {
		t.Run(def.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			l := newContractLog(t)
			poison := l.x2
			poison.ID = uuid.New()
			poison.Data = json.RawMessage(`{"releaseId":"one","title":"Second"}`)

			clean := startContractRun(t, def, []events.Envelope{l.x1, l.x2, l.x3, l.y1})
			bad := startContractRun(t, def, []events.Envelope{l.x1, poison, l.x3, l.y1})
			clean.caughtUp(t)
			bad.caughtUp(t)

			store := bad.p.Store()
			parked, err := store.ListParked(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(parked) != 2 {
				t.Fatalf("%d parked, want the poison and the event behind it: %+v", len(parked), parked)
			}
			head, behind := parked[0], parked[1]
			if head.Key != l.x1.Subject || head.Behind != nil || behind.Key != l.x1.Subject || behind.Behind == nil || *behind.Behind != head.ID {
				t.Fatalf("parked %+v and %+v; want X's poison, then X's next event behind it", head, behind)
			}
			if h1, h2 := hashOf(t, clean.p), hashOf(t, bad.p); h1 == h2 {
				t.Fatalf("with the poison parked the read model equals the clean one (%s): the parked events were applied", h1)
			}

			if _, err := store.Retry(ctx, head.ID); err != nil {
				t.Fatal(err)
			}
			if again, _ := store.ListParked(ctx); len(again) != 2 || again[0].Offset != head.Offset {
				t.Fatalf("after a retry without a fix: %+v", again)
			}
			again, _ := store.ListParked(ctx)
			if err := store.ReplacePayload(ctx, again[0].ID, l.x2Payload); err != nil {
				t.Fatal(err)
			}
			if n, err := store.Retry(ctx, again[0].ID); err != nil || n != 2 {
				t.Fatalf("retry after the fix: %d applied, %v; want 2", n, err)
			}
			if left, _ := store.ListParked(ctx); len(left) != 0 {
				t.Fatalf("still parked: %+v", left)
			}
			if h1, h2 := hashOf(t, clean.p), hashOf(t, bad.p); h1 != h2 {
				t.Fatalf("after the fix and retry the read model hashes %s, the clean log's %s", h2, h1)
			}
		})
	}
}

func hashOf(t *testing.T, p *projector.Projector) string {
	t.Helper()
	h, err := p.Hash(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

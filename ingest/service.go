package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// Source is the CloudEvents source of every event ingest appends.
const Source = "/catalog/ingest"

// ErrUnavailable reports that a dependency (Postgres or Kafka) failed; the
// delivery was not accepted and may be retried.
var ErrUnavailable = errors.New("ingest dependency unavailable")

// Store keeps the write-side state of releases: one stream row per release
// and the catalogue ids assigned so far.
type Store interface {
	// Update locks the release's stream (creating it, with a new release id,
	// on first sight), calls fn with its state and an id assigner bound to
	// the same transaction, and saves the state fn returns. Nothing is saved
	// if fn fails.
	Update(ctx context.Context, upc release.UPC, fn func(ctx context.Context, cur release.Stream, ids IDAssigner) (release.Stream, error)) error
}

// IDAssigner hands out catalogue ids, assigning each artist name and ISRC
// an id once and returning the same id ever after.
type IDAssigner interface {
	AssignIDs(ctx context.Context, artists []string, isrcs []release.ISRC) (release.IDs, error)
}

// Publisher appends events to a topic and returns once they are durable.
type Publisher interface {
	Publish(ctx context.Context, topic string, evs ...events.Envelope) error
}

// Result is the outcome of an accepted or unchanged delivery.
type Result struct {
	// Status is "accepted" or "unchanged".
	Status    string           `json:"status"`
	MessageID string           `json:"messageId"`
	UPC       string           `json:"upc"`
	ReleaseID int64            `json:"releaseId"`
	Version   int64            `json:"version"`
	Events    []EventRef       `json:"events"`
	TrackIDs  map[string]int64 `json:"trackIds,omitempty"`
}

// EventRef identifies an appended event.
type EventRef struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Sequence int64  `json:"sequence"`
}

// Service accepts deliveries. Safe for concurrent use; deliveries of one
// release are serialised by the store's lock.
type Service struct {
	store Store
	pub   Publisher
	topic string
	log   *slog.Logger
	now   func() time.Time
}

// NewService builds a Service that appends to topic.
func NewService(store Store, pub Publisher, topic string, log *slog.Logger) (*Service, error) {
	if store == nil || pub == nil || log == nil || topic == "" {
		return nil, errors.New("ingest: store, publisher, topic and logger are required")
	}
	return &Service{store: store, pub: pub, topic: topic, log: log, now: time.Now}, nil
}

// Deliver validates d and appends the events it produces. A validation
// failure returns a *release.ValidationError; a dependency failure wraps
// ErrUnavailable. messageID names the delivery and becomes the events'
// causation id.
func (s *Service) Deliver(ctx context.Context, messageID string, d release.Draft) (Result, error) {
	r, err := release.New(d)
	if err != nil {
		return Result{}, err
	}
	var res Result
	err = s.store.Update(ctx, r.UPC(), func(ctx context.Context, cur release.Stream, assigner IDAssigner) (release.Stream, error) {
		var isrcs []release.ISRC
		for _, t := range r.Tracks() {
			isrcs = append(isrcs, t.ISRC)
		}
		ids, err := assigner.AssignIDs(ctx, r.Artists(), isrcs)
		if err != nil {
			return cur, err
		}
		dec := release.Decide(cur, r, ids)
		res = Result{Status: "unchanged", MessageID: messageID, UPC: r.UPC().String(), ReleaseID: cur.ReleaseID, Version: dec.Next.Version,
			Events: []EventRef{}, TrackIDs: map[string]int64{}}
		for isrc, id := range ids.Tracks {
			res.TrackIDs[isrc.String()] = id
		}
		if dec.Unchanged {
			return cur, nil
		}
		env, err := events.NewEnvelope(release.TypeDelivered, release.DeliveredSchemaVersion, Source, r.UPC().String(),
			dec.Sequence, s.now(), messageID, dec.Event)
		if err != nil {
			return cur, err
		}
		// Publishing inside the store's transaction: the state is saved only
		// if Kafka has the event. If the process dies between Kafka's ack and
		// the commit, a resend publishes the same sequence number again and
		// projections drop it by version.
		if err := s.pub.Publish(ctx, s.topic, env); err != nil {
			return cur, err
		}
		res.Status = "accepted"
		res.Events = append(res.Events, EventRef{ID: env.ID.String(), Type: env.Type, Sequence: env.Sequence})
		return dec.Next, nil
	})
	if err != nil {
		return Result{}, fmt.Errorf("%w: deliver release %s: %w", ErrUnavailable, r.UPC(), err)
	}
	s.log.Info("delivery processed", "message_id", messageID, "upc", res.UPC, "status", res.Status, "version", res.Version)
	return res, nil
}

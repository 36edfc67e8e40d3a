package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// TrackDetailsName names the track-details projection: its consumer group
// suffix and its checkpoint rows. It is a stable API; renaming it rebuilds
// the read model from offset zero under a new group.
const TrackDetailsName = "track-details"

// Checkpoint is a projection's position in one partition: the next offset
// to consume.
type Checkpoint struct {
	Topic      string
	Partition  int32
	NextOffset int64
}

// Change is one decoded release event: its per-release sequence number and
// its payload, one of release.Delivered, release.MetadataChanged,
// release.TracksChanged, release.DealsReplaced, release.TakenDown or
// release.Purged (at its current schema version).
type Change struct {
	Sequence int64
	Event    any
}

// ApplyResult counts what a batch did.
type ApplyResult struct {
	// Applied events changed the read model.
	Applied int
	// Stale events were older than or equal to the version a row already
	// reflected (a redelivery or a duplicate) and changed nothing.
	Stale int
}

// TrackDetailsStore persists the track-details read model.
type TrackDetailsStore interface {
	// Apply applies changes in order and stores cp, all in one transaction.
	Apply(ctx context.Context, cp Checkpoint, changes []Change) (ApplyResult, error)
}

// TrackDetails projects release events into the track-details read model.
type TrackDetails struct {
	store TrackDetailsStore
	log   *slog.Logger
}

// NewTrackDetails builds the projection on store.
func NewTrackDetails(store TrackDetailsStore, log *slog.Logger) (*TrackDetails, error) {
	if store == nil || log == nil {
		return nil, errors.New("projections: store and logger are required")
	}
	return &TrackDetails{store: store, log: log}, nil
}

// Decode reads a record into a Change: the envelope, upcast to the current
// schema version, and the typed payload. ok is false for event types the
// projection does not use.
func Decode(r events.Record) (c Change, ok bool, err error) {
	env, err := events.Decode(r.Headers, r.Value)
	if err != nil {
		return Change{}, false, err
	}
	if env, err = events.Upcast(env); err != nil {
		return Change{}, false, err
	}
	var payload any
	switch env.Type {
	case release.TypeDelivered:
		payload = &release.Delivered{}
	case release.TypeMetadataChanged:
		payload = &release.MetadataChanged{}
	case release.TypeTracksChanged:
		payload = &release.TracksChanged{}
	case release.TypeDealsReplaced:
		payload = &release.DealsReplaced{}
	case release.TypeTakenDown:
		payload = &release.TakenDown{}
	case release.TypePurged:
		payload = &release.Purged{}
	default:
		return Change{}, false, nil
	}
	if err := json.Unmarshal(env.Data, payload); err != nil {
		return Change{}, false, fmt.Errorf("%w: decode %s: %w", events.ErrMalformed, env.Type, err)
	}
	return Change{Sequence: env.Sequence, Event: deref(payload)}, true, nil
}

func deref(p any) any {
	switch v := p.(type) {
	case *release.Delivered:
		return *v
	case *release.MetadataChanged:
		return *v
	case *release.TracksChanged:
		return *v
	case *release.DealsReplaced:
		return *v
	case *release.TakenDown:
		return *v
	case *release.Purged:
		return *v
	}
	return p
}

// HandleBatch implements events.BatchHandler. Event types the projection
// does not use are passed over (their offsets are still recorded). A record
// that cannot be decoded fails the batch, which is retried: the projection
// never skips an event silently.
func (p *TrackDetails) HandleBatch(ctx context.Context, b events.Batch) error {
	changes := make([]Change, 0, len(b.Records))
	for _, r := range b.Records {
		c, ok, err := Decode(r)
		if err != nil {
			return fmt.Errorf("%s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err)
		}
		if ok {
			changes = append(changes, c)
		}
	}
	res, err := p.store.Apply(ctx, Checkpoint{Topic: b.Topic, Partition: b.Partition, NextOffset: b.NextOffset()}, changes)
	if err != nil {
		return err
	}
	if res.Stale > 0 {
		p.log.Warn("stale events ignored", "partition", b.Partition, "from_offset", b.Records[0].Offset, "stale", res.Stale)
	}
	p.log.Debug("batch applied", "partition", b.Partition, "records", len(b.Records), "applied", res.Applied, "next_offset", b.NextOffset())
	return nil
}

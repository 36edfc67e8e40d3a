package projections

import (
	"context"
	"errors"
	"log/slog"

	"go.opentelemetry.io/otel/trace"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// Checkpoint is a projection's position in one partition: the next offset
// to consume.
type Checkpoint struct {
	Topic      string
	Partition  int32
	NextOffset int64
}

// Change is one decoded event: its per-stream sequence number and its
// payload at its current schema version (events.Payload).
type Change struct {
	Sequence int64
	Event    events.Payload
	// Derived is what the projection's Prepare derived from the event as
	// it was decoded, in place of parts of Event it took out (track-details
	// keeps a deal set's availability terms instead of the set); nil when
	// the projection has no Prepare.
	Derived any
}

// Prepare reduces a decoded change to what a projection's fold reads. The
// handler calls it on each record as it decodes it, so a batch in flight
// (up to the consumer's MaxBatch records per partition, all decoded before
// they are applied) holds what the fold needs, not every event whole: a
// deal set decoded is several times the size of its JSON, and the terms
// folded from it a small fraction of either. It must be pure: the fold of
// a prepared change is the fold of the change as decoded.
type Prepare func(Change) Change

// HandlerOption configures a Handler.
type HandlerOption func(*Handler)

// WithPrepare has the handler prepare each change as it decodes it.
func WithPrepare(f Prepare) HandlerOption {
	return func(h *Handler) { h.prepare = f }
}

// Release returns the catalogue id of the release the change is about (0
// for an event that is not a release event).
func (c Change) Release() int64 {
	if rp, ok := c.Event.(release.Payload); ok {
		return rp.Release()
	}
	return 0
}

// Follows reports whether a fold keyed by release applies the change to a
// release whose rows exist (or not) at version: not a redelivery (a
// sequence number the rows already reflect), and nothing before the
// release's first delivery. Every projection folds by this rule, so a
// replay from offset zero and the live generation agree.
func (c Change) Follows(exists bool, version int64) bool {
	if exists {
		return version < c.Sequence
	}
	_, first := c.Event.(release.Delivered)
	return first
}

// Item is one record of a batch as the store sees it: its coordinates and
// raw form (kept if it has to be parked), and either its decoded Change or,
// for a poison record, why it could not be decoded.
type Item struct {
	Record events.Record
	// Key is the release the record belongs to (its Kafka key).
	Key string
	// Change is the decoded event; nil when the record is poison or of a
	// type the projection does not use (Skip).
	Change *Change
	// Poison is why the record cannot be used; empty when it can.
	Poison string
	// Skip marks an event type the projection does not use.
	Skip bool
}

// ApplyResult counts what a batch did.
type ApplyResult struct {
	// Applied events changed the read model.
	Applied int
	// Stale events were older than or equal to the version a row already
	// reflected (a redelivery or a duplicate) and changed nothing.
	Stale int
	// Parked events were poison, or waited behind a parked event of their
	// release.
	Parked int
	// Changed lists the tracks whose entries changed, with the release
	// and release version they now reflect, for cache invalidation after
	// the commit. A track that several releases of the batch carry (a
	// legacy shared id) is listed once, with any one of them: the cache
	// refuses to fill an entry over another release's tombstone, so one
	// tombstone shuts out older content of every release.
	Changed map[int64]ReleaseVersion
	// Pending is the invalidation of Changed as stored with the batch's
	// rows, for the live generation only (a generation being rebuilt is
	// not served, so its entries need none); nil when nothing was stored.
	Pending *Invalidation
}

// ReleaseVersion is what a track's read-model row, and so its cached
// entry, reflects: the release it was read from and that release's
// version (its per-release event sequence number). Versions of two
// different releases are never compared.
type ReleaseVersion struct {
	Release int64
	Version int64
}

// BatchStore persists one generation of a projection's read model
// (projectionpg.Writer).
type BatchStore interface {
	// Apply applies the items in order, parks the poison ones and those
	// behind a parked event of the same release, and stores cp, all in one
	// transaction.
	Apply(ctx context.Context, cp Checkpoint, items []Item) (ApplyResult, error)
}

// Invalidator drops the cached entries a committed batch changed (see
// Invalidations).
type Invalidator interface {
	Invalidate(ctx context.Context, inv Invalidation) error
}

// Handler consumes a projection's events: it decodes each batch through
// the event registry and has the generation's store apply it, parking what
// cannot be applied, then sends the cache invalidation the batch owes. It
// knows nothing of the projection it feeds; the store's Model does.
type Handler struct {
	store   BatchStore
	cache   Invalidator
	log     *slog.Logger
	prepare Prepare
	tracing trace.TracerProvider // WithTracing; nil: nothing is traced
	traced  func() bool
}

// NewHandler builds the handler of one generation on store. cache may be nil.
func NewHandler(store BatchStore, cache Invalidator, log *slog.Logger, opts ...HandlerOption) (*Handler, error) {
	if store == nil || log == nil {
		return nil, errors.New("projections: store and logger are required")
	}
	h := &Handler{store: store, cache: cache, log: log}
	for _, o := range opts {
		o(h)
	}
	return h, nil
}

// Decode reads a record into a Change: the envelope, upcast to the current
// schema version, and the typed payload, through the event registry. ok is
// false for event types the registry does not know.
func Decode(r events.Record) (c Change, ok bool, err error) {
	env, p, ok, err := events.DecodeRecord(r)
	if err != nil || !ok {
		return Change{}, false, err
	}
	return Change{Sequence: env.Sequence, Event: p}, true, nil
}

// HandleBatch implements events.BatchHandler. Records that cannot be
// decoded are parked (with every later event of their release) instead of
// stopping the partition; event types the projection does not use are
// passed over. Their offsets are recorded all the same. Each change is
// prepared (WithPrepare) as soon as it is decoded. An event whose
// apply fails the same way twice is parked too (see applySplitting); a
// transient error is returned for the consumer to retry the batch.
func (p *Handler) HandleBatch(ctx context.Context, b events.Batch) error {
	items := make([]Item, len(b.Records))
	for i, r := range b.Records {
		it := Item{Record: r, Key: string(r.Key)}
		c, ok, err := Decode(r)
		switch {
		case err != nil:
			it.Poison = err.Error()
		case !ok:
			it.Skip = true
		default:
			if p.prepare != nil {
				c = p.prepare(c)
			}
			it.Change = &c
		}
		items[i] = it
	}
	ctx, done := p.traceBatch(ctx, b)
	err := p.applySplitting(ctx, b.Topic, b.Partition, items, nil)
	done(err)
	return err
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/semaphore"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// Source is the CloudEvents source of every event ingest appends.
const Source = "/catalog/ingest"

// ErrUnavailable reports that a dependency (Postgres or Kafka) failed or
// did not confirm in time. Nothing was half done: either the delivery left
// no trace, or its events are safe in the outbox and will reach Kafka once
// (a retry of the same delivery then finds it unchanged).
var ErrUnavailable = errors.New("ingest dependency unavailable")

// ErrIdentityConflict reports a delivery whose identifiers (UPC, GRid)
// belong to two different releases.
var ErrIdentityConflict = errors.New("identifiers belong to different releases")

// StreamRef names a release by any of its identifiers.
type StreamRef struct {
	UPC  string
	GRid string
}

// Stream is a release's write-side state and its aggregate key (the Kafka
// key of its events: the UPC it was first delivered with, else its GRid).
type Stream struct {
	Key   string
	State release.State
}

// Change is what a delivery decided: the next state and the events to
// append to topic.
type Change struct {
	Next   release.State
	Topic  string
	Events []events.Envelope
	// Trace is the W3C trace context of the delivery that decided the
	// change (events.TraceHeaders; nil when not traced), stored with the
	// events for the outbox relay to carry into their records.
	Trace map[string]string
}

// Store keeps ingest's write-side state and its outbox.
type Store interface {
	// Update finds the stream ref names (creating it if create is set and
	// none exists), locks it, and calls fn with it and an id assigner bound
	// to the same transaction. It then saves fn's next state and appends
	// fn's events to the outbox, in that one transaction, and returns the
	// events' outbox ids. Nothing is saved if fn fails.
	Update(ctx context.Context, ref StreamRef, create bool, fn func(context.Context, Stream, IDAssigner) (Change, error)) ([]int64, error)
}

// IDAssigner hands out catalogue ids: one per artist name, and one per
// track, a track being an ISRC on a release (the same recording on an
// album and a compilation is two tracks). Each id is assigned once and
// returned ever after.
type IDAssigner interface {
	AssignIDs(ctx context.Context, releaseID int64, artists []string, isrcs []release.ISRC) (release.IDs, error)
}

// Confirmer waits until outbox rows have reached Kafka.
type Confirmer interface {
	Wait(ctx context.Context, ids []int64, key string, timeout time.Duration) error
}

// Result is the outcome of a delivery that was not rejected.
type Result struct {
	// Status is accepted, unchanged or stale.
	Status    string           `json:"status"`
	Reason    string           `json:"reason,omitempty"`
	Message   MessageRef       `json:"message"`
	Release   string           `json:"release,omitempty"`
	ReleaseID int64            `json:"releaseId,omitempty"`
	Version   int64            `json:"version"`
	Events    []EventRef       `json:"events"`
	TrackIDs  map[string]int64 `json:"trackIds,omitempty"`
}

// MessageRef names a delivery.
type MessageRef struct {
	Sender string `json:"sender,omitempty"`
	ID     string `json:"id"`
}

// EventRef identifies an appended event.
type EventRef struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Sequence int64  `json:"sequence"`
}

// DefaultDPID is the party id catalog answers to as a message's
// recipient when Config.Recipients is empty: a placeholder DDEX party id,
// the one `catalog gen` addresses its deliveries to. A deployment sets
// its own (CATALOG_DPID).
const DefaultDPID = "PADPIDA0000000000R"

// MaxClockSkew is how far in the future (by catalog's clock) a message's
// creation time may be. A message dated later is rejected: its date would
// make every real update of the release stale until then.
const MaxClockSkew = 5 * time.Minute

// MaxHeaderValueBytes bounds a message's id, sender and SentOnBehalfOf
// party: each travels with every event of the delivery (the causation
// header) and is kept in the release's write-side state. DDEX ids and
// DPIDs are a few dozen characters.
const MaxHeaderValueBytes = 256

// Config configures a Service.
type Config struct {
	// Topic receives the release events.
	Topic string
	// ConfirmTimeout bounds the wait for Kafka's confirmation (default 15 s).
	ConfirmTimeout time.Duration
	// Recipients are the party ids (DPIDs) catalog answers to: a message
	// that names recipients must name one of them (default DefaultDPID).
	Recipients []string
	// BodyBudget bounds the bytes of delivery bodies read and parsed at once
	// (ReadDelivery; default DefaultBodyBudget, at least MaxBodyBytes).
	BodyBudget int64
	// BodyWait is how long a delivery waits for room in the body budget
	// before ErrBusy (default DefaultBodyWait).
	BodyWait time.Duration
	// RequireParties makes the HTTP API refuse (403) a delivery that came
	// without PartiesHeader, i.e. not through the gateway. Without it, a
	// request that carries the header is checked against it and one that
	// does not is trusted to name its sender truthfully.
	RequireParties bool
	// Observe, when set, is told how long each accepted or unchanged
	// delivery spent in each stage after it was read: "store" (waiting for
	// and holding the release's lock, deciding, and writing state and
	// events in a committed transaction) and "confirm" (from that commit
	// until Kafka had the events). Metrics use it.
	Observe func(stage string, d time.Duration)
	// Tracing, when set, records a span for each delivery ("ingest
	// delivery": decided, stored, confirmed by Kafka) under the request's,
	// and its context goes with the delivery's events through the outbox
	// into Kafka (events.TraceHeaders). Nil: nothing is traced.
	Tracing trace.TracerProvider
}

// Service accepts deliveries. Safe for concurrent use; deliveries of one
// release are serialised by the store's lock.
type Service struct {
	cfg     Config
	store   Store
	confirm Confirmer
	log     *slog.Logger
	now     func() time.Time
	budget  *bodyBudget
	tracer  trace.Tracer

	outcomes outcomes
}

// NewService builds a Service.
func NewService(cfg Config, store Store, confirm Confirmer, log *slog.Logger) (*Service, error) {
	if store == nil || confirm == nil || log == nil || cfg.Topic == "" {
		return nil, errors.New("ingest: topic, store, confirmer and logger are required")
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = 15 * time.Second
	}
	if len(cfg.Recipients) == 0 {
		cfg.Recipients = []string{DefaultDPID}
	}
	for _, r := range cfg.Recipients {
		if strings.TrimSpace(r) == "" {
			return nil, errors.New("ingest: a recipient party id is empty")
		}
	}
	if cfg.BodyBudget == 0 {
		cfg.BodyBudget = DefaultBodyBudget
	}
	if cfg.BodyBudget < MaxBodyBytes {
		return nil, fmt.Errorf("ingest: a body budget of %d bytes cannot hold one delivery of %d bytes", cfg.BodyBudget, MaxBodyBytes)
	}
	if cfg.BodyWait <= 0 {
		cfg.BodyWait = DefaultBodyWait
	}
	budget := &bodyBudget{sem: semaphore.NewWeighted(cfg.BodyBudget), wait: cfg.BodyWait}
	var tracer trace.Tracer = noop.Tracer{}
	if cfg.Tracing != nil {
		tracer = cfg.Tracing.Tracer("github.com/catalog-org/catalog/ingest")
	}
	return &Service{cfg: cfg, store: store, confirm: confirm, log: log, now: time.Now, budget: budget, tracer: tracer}, nil
}

// Deliver validates a release delivery and appends the events it produces.
// It returns once those events are in Kafka. A validation failure
// (including a message addressed to another party, or dated more than
// MaxClockSkew ahead) returns a *release.ValidationError; a delivery from
// a party that does not own the release a *release.OwnershipError; a
// dependency failure wraps ErrUnavailable.
func (s *Service) Deliver(ctx context.Context, d release.Draft) (Result, error) {
	return s.deliver(ctx, d, release.BySender)
}

func (s *Service) deliver(ctx context.Context, d release.Draft, by release.Authority) (Result, error) {
	hp := s.checkHeader(d.Message, d.Source)
	if ps := checkCounts(d); len(ps) > 0 {
		return Result{}, &release.ValidationError{Message: d.Message, Problems: append(hp, ps...)}
	}
	r, err := release.New(d)
	if err = withProblems(err, d.Message, hp); err != nil {
		return Result{}, err
	}
	ref := StreamRef{UPC: r.UPC().String(), GRid: r.GRid()}
	return s.apply(ctx, r.Message(), d.Source, ref, true, func(ctx context.Context, st Stream, ids IDAssigner) (release.Decision, map[string]int64, error) {
		var isrcs []release.ISRC
		for _, t := range r.Tracks() {
			isrcs = append(isrcs, t.ISRC)
		}
		assigned, err := ids.AssignIDs(ctx, st.State.ReleaseID, r.Artists(), isrcs)
		if err != nil {
			return release.Decision{}, nil, err
		}
		trackIDs := map[string]int64{}
		for isrc, id := range assigned.Tracks {
			trackIDs[isrc.String()] = id
		}
		// Decided under the release's lock: a message without a creation time
		// takes the time of this decision, so such messages order as decided.
		dec, err := release.Decide(s.trusted(st), r.Received(s.now()), assigned, by)
		return dec, trackIDs, err
	})
}

// Purge validates a purge and appends its event, if the release is live.
// Its errors are those of Deliver.
func (s *Service) Purge(ctx context.Context, d release.PurgeDraft) (Result, error) {
	return s.purge(ctx, d, release.BySender)
}

func (s *Service) purge(ctx context.Context, d release.PurgeDraft, by release.Authority) (Result, error) {
	hp := s.checkHeader(d.Message, d.Source)
	p, err := release.NewPurge(d)
	if err = withProblems(err, d.Message, hp); err != nil {
		return Result{}, err
	}
	ref := StreamRef{UPC: p.UPC.String(), GRid: p.GRid}
	return s.apply(ctx, p.Message, d.Source, ref, false, func(_ context.Context, st Stream, _ IDAssigner) (release.Decision, map[string]int64, error) {
		if p.Message.Created.IsZero() {
			p.Message.Created = s.now().UTC()
		}
		dec, err := release.DecidePurge(s.trusted(st), p, by)
		return dec, nil, err
	})
}

// checkHeader returns the problems of a message's header that only ingest
// can see: recipients that are not catalog, and a creation time in the
// future. src maps "recipient" and "messageCreated" to the delivery's own
// places for them.
func (s *Service) checkHeader(m release.Message, src map[string]string) []release.Problem {
	field := func(f string) string {
		if p, ok := src[f]; ok && p != "" {
			return p
		}
		return f
	}
	var ps []release.Problem
	for _, h := range []struct{ field, v string }{{"messageId", m.ID}, {"sender", m.Sender}, {"sentOnBehalfOf", m.OnBehalfOf}} {
		if len(h.v) > MaxHeaderValueBytes {
			ps = append(ps, release.Problem{Field: field(h.field), Reason: fmt.Sprintf(
				"%s is %d bytes; at most %d", release.Quote(h.v), len(h.v), MaxHeaderValueBytes)})
		}
	}
	if len(m.Recipients) > 0 && !slices.ContainsFunc(m.Recipients, func(r string) bool { return slices.Contains(s.cfg.Recipients, r) }) {
		ps = append(ps, release.Problem{Field: field("recipient"), Reason: fmt.Sprintf(
			"the message is addressed to %s, not to catalog (%s); it was meant for another recipient",
			quoteList(m.Recipients), quoteList(s.cfg.Recipients))})
	}
	if now := s.now(); m.Created.After(now.Add(MaxClockSkew)) {
		ps = append(ps, release.Problem{Field: field("messageCreated"), Reason: fmt.Sprintf(
			"%s is in the future: more than %v after catalog's clock (%s); a message cannot be created later than it is received",
			m.Created.Format(time.RFC3339), MaxClockSkew, now.UTC().Format(time.RFC3339))})
	}
	return ps
}

// withProblems adds header problems hp to the validation error err (or
// makes one of them).
func withProblems(err error, m release.Message, hp []release.Problem) error {
	if len(hp) == 0 {
		return err
	}
	if v, ok := release.IsValidationError(err); ok {
		v.Problems = append(hp, v.Problems...)
		return v
	}
	if err != nil {
		return err
	}
	return &release.ValidationError{Message: m, Problems: hp}
}

func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// trusted is the stream's state as ingest decides against it. The last
// message of a stream written before creation times were bounded may be
// dated in the future (9999-12-31): that date orders nothing, or it would
// make every later message stale until then. Such a message is treated as
// undated, so the owners' next delivery applies, and its own date is
// recorded in its place.
func (s *Service) trusted(st Stream) release.State {
	cur := st.State
	if limit := s.now().Add(MaxClockSkew); cur.Message.Created.After(limit) {
		s.log.Warn("stored message is dated in the future; it no longer orders deliveries",
			"release", st.Key, "message", cur.Message.Name(), "created", cur.Message.Created)
		cur.Message.Created = time.Time{}
	}
	return cur
}

type decideFunc func(context.Context, Stream, IDAssigner) (release.Decision, map[string]int64, error)

func (s *Service) apply(ctx context.Context, msg release.Message, src map[string]string, ref StreamRef, create bool, decide decideFunc) (res Result, err error) {
	ctx, span := s.tracer.Start(ctx, "ingest delivery", trace.WithAttributes(
		attribute.String("catalog.message.sender", msg.Sender), attribute.String("catalog.message.id", msg.ID),
		attribute.String("catalog.release.upc", ref.UPC), attribute.String("catalog.release.grid", ref.GRid)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		} else {
			span.SetAttributes(attribute.String("catalog.delivery.status", res.Status), attribute.Int64("catalog.release.version", res.Version),
				attribute.Int("catalog.delivery.events", len(res.Events)))
		}
		span.End()
	}()
	traceHeaders := events.TraceHeaders(ctx)
	res = Result{Message: MessageRef{Sender: msg.Sender, ID: msg.ID}, Events: []EventRef{}}
	began := time.Now()
	ids, err := s.store.Update(ctx, ref, create, func(ctx context.Context, st Stream, assigner IDAssigner) (Change, error) {
		dec, trackIDs, err := decide(ctx, st, assigner)
		if err != nil {
			return Change{}, err
		}
		res.Status, res.Reason, res.Release, res.ReleaseID, res.Version, res.TrackIDs =
			string(dec.Outcome), dec.Reason, st.Key, st.State.ReleaseID, dec.Next.Version, trackIDs
		ch := Change{Next: dec.Next, Topic: s.cfg.Topic, Trace: traceHeaders}
		seq := dec.Next.Version - int64(len(dec.Events))
		for _, ev := range dec.Events {
			seq++
			env, err := events.NewEnvelope(ev.Type, release.SchemaVersions[ev.Type], Source, st.Key, seq, s.now(), msg.Name(), ev.Payload)
			if err != nil {
				return Change{}, err
			}
			if err := checkEventSize(msg, env); err != nil {
				return Change{}, err // rolls the transaction back: nothing is written
			}
			ch.Events = append(ch.Events, env)
			res.Events = append(res.Events, EventRef{ID: env.ID.String(), Type: env.Type, Sequence: seq})
		}
		return ch, nil
	})
	if v, ok := release.IsValidationError(err); ok {
		return Result{}, v
	}
	if errors.Is(err, ErrIdentityConflict) {
		return Result{}, &release.ValidationError{Message: msg, Problems: []release.Problem{{Field: "upc", Reason: err.Error()}}}
	}
	var oe *release.OwnershipError
	if errors.As(err, &oe) {
		if p, ok := src[oe.Field]; ok && p != "" {
			oe.Field = p
		}
		s.log.Warn("delivery rejected: not an owner", "message", msg.Name(), "release", oe.Release, "owners", oe.Owners)
		return Result{}, oe
	}
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, msg.Name(), err)
	}
	// Acknowledge only what Kafka has: this delivery's events, and any
	// earlier events of the same release still on their way.
	span.AddEvent("stored", trace.WithAttributes(attribute.Int("catalog.outbox.rows", len(ids))))
	stored := time.Now()
	if err := s.confirm.Wait(ctx, ids, res.Release, s.cfg.ConfirmTimeout); err != nil {
		return Result{}, fmt.Errorf("%w: %s: %w", ErrUnavailable, msg.Name(), err)
	}
	if s.cfg.Observe != nil {
		s.cfg.Observe("store", stored.Sub(began))
		s.cfg.Observe("confirm", time.Since(stored))
	}
	s.log.Info("delivery processed", "message", msg.Name(), "release", res.Release, "status", res.Status, "version", res.Version, "events", len(res.Events))
	return res, nil
}

package eventpg

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrateOutbox creates the outbox tables.
func MigrateOutbox(ctx context.Context, pool *pgxpool.Pool) error {
	return pgmigrate.Migrate(ctx, pool, "outbox_schema_version", migrations)
}

// ErrNotConfirmed reports events still in the outbox when a wait ended:
// they are safe and will be published, but Kafka has not confirmed them yet.
var ErrNotConfirmed = errors.New("events not yet confirmed by Kafka")

// Append writes envelopes bound for topic to the outbox inside tx and
// returns their outbox ids, in order. The trace context of ctx's span, if
// any, goes with them (events.TraceHeaders).
func Append(ctx context.Context, tx pgx.Tx, topic string, envs []events.Envelope) ([]int64, error) {
	b := &pgx.Batch{}
	ids, err := QueueAppend(b, topic, envs, SameTrace(events.TraceHeaders(ctx), len(envs)))
	if err != nil {
		return nil, err
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("append to outbox: %w", err)
	}
	return ids, nil
}

// SameTrace is QueueAppend's traces for n events that one piece of work
// caused: its trace context for each (nil when trace is nil).
func SameTrace(trace map[string]string, n int) []map[string]string {
	if trace == nil {
		return nil
	}
	out := make([]map[string]string, n)
	for i := range out {
		out[i] = trace
	}
	return out
}

// QueueAppend queues on b the statement that writes envelopes bound for
// topic to the outbox, so a caller can send it in one round trip with its
// own statements of the same transaction. The returned slice holds their
// outbox ids, in order, once b has been sent and closed without error.
// However many envelopes (of however many keys) there are, they are one
// insert: the rows are numbered in the order given, so their ids ascend in
// that order, which is the order the relay sends them in. traces, when not
// nil, holds for each envelope the W3C trace context of the work that
// caused it (events.TraceHeaders; nil when not traced), which the relay
// carries into its record.
func QueueAppend(b *pgx.Batch, topic string, envs []events.Envelope, traces []map[string]string) ([]int64, error) {
	ids := make([]int64, len(envs))
	if len(envs) == 0 {
		return ids, nil
	}
	if traces != nil && len(traces) != len(envs) {
		return nil, fmt.Errorf("outbox: %d trace contexts for %d events", len(traces), len(envs))
	}
	keys := make([]string, len(envs))
	eventIDs := make([]string, len(envs))
	headers := make([]string, len(envs))
	payloads := make([][]byte, len(envs))
	trs := make([]*string, len(envs))
	for i, tr := range traces {
		if len(tr) == 0 {
			continue
		}
		j, err := json.Marshal(tr)
		if err != nil {
			return nil, fmt.Errorf("outbox trace context: %w", err)
		}
		js := string(j)
		trs[i] = &js
	}
	for i, e := range envs {
		h, err := json.Marshal(e.Headers())
		if err != nil {
			return nil, fmt.Errorf("outbox headers: %w", err)
		}
		keys[i], eventIDs[i], headers[i], payloads[i] = e.Subject, e.ID.String(), string(h), e.Data
	}
	b.Queue(`insert into outbox (topic, key, event_id, headers, payload, trace)
		select $1, u.key, u.event_id::uuid, u.headers::jsonb, u.payload, u.trace::jsonb
		from unnest($2::text[], $3::text[], $4::text[], $5::bytea[], $6::text[]) with ordinality as u(key, event_id, headers, payload, trace, n)
		order by u.n
		returning id`, topic, keys, eventIDs, headers, payloads, trs).Query(func(rows pgx.Rows) error {
		got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		if len(got) != len(ids) {
			return fmt.Errorf("outbox: %d rows written of %d", len(got), len(ids))
		}
		// The ids were drawn in insertion order, which is u.n's.
		slices.Sort(got)
		copy(ids, got)
		return nil
	})
	return ids, nil
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	Kafka events.KafkaConfig
	// BatchSize caps the records produced per round (default 500).
	BatchSize int
	// MaxBatchBytes caps the payload bytes read per round (default 16 MiB);
	// a round always takes at least one row.
	MaxBatchBytes int
	// Poll is how often the outbox is checked without a nudge (default 250 ms).
	Poll time.Duration
	// Hook, when set, is called at "before-publish" (a batch read, not yet
	// sent), "after-publish" (Kafka has it; no one is told yet) and
	// "acknowledged" (its waiters are answered; its rows not yet deleted);
	// crash tests use it to kill the process at exactly those points.
	Hook func(stage string)
	// Tracing, when set, records a producer span for every row that came
	// with a trace context, a child of the request that wrote it, and
	// carries the span's context in the record's headers. Without it the
	// row's trace context is carried as it is.
	Tracing trace.TracerProvider
}

// Relay moves outbox rows to Kafka in id order and deletes them once Kafka
// has them. Only one relay per database publishes at a time (a session
// advisory lock); others wait for the lock, so any ingest process can run
// one. After a crash between producing and deleting, it finds the records
// that reached Kafka (by event id, from its stored partition positions) and
// deletes them instead of producing them again: each event is published
// exactly once.
type Relay struct {
	cfg   RelayConfig
	pool  *pgxpool.Pool
	prod  *events.Producer
	admin *events.Admin
	log   *slog.Logger
	nudge chan struct{}

	mu       sync.Mutex
	done     chan struct{}        // closed (and replaced) after every relayed batch
	waiters  map[*waiter]struct{} // Wait calls not yet answered
	byID     map[int64][]*waiter  // those waiters by the outbox ids they wait for
	recent   recentAcks           // ids Kafka acknowledged to this relay lately
	checking bool                 // a confirm loop is running for waiters
	wake     chan struct{}        // tells the confirm loop a waiter arrived

	positioned map[string]bool // topics whose partitions all have a stored position

	sess *pgxpool.Conn // the session holding the relay lock; used by Run's goroutine only

	relayedEvents atomic.Uint64 // events Kafka acknowledged, since the relay was built
}

// Relayed is the number of events this relay has had Kafka acknowledge
// since it was built (an event relayed again after a crash counts again:
// it is the rate of the relay's work, not a count of the log).
func (r *Relay) Relayed() uint64 { return r.relayedEvents.Load() }

// NewRelay builds a relay; Run starts it. It reads the ends of the
// partitions it writes through admin, which its caller owns and closes
// after the relay has stopped.
func NewRelay(cfg RelayConfig, pool *pgxpool.Pool, prod *events.Producer, admin *events.Admin, log *slog.Logger) (*Relay, error) {
	if pool == nil || prod == nil || admin == nil || log == nil {
		return nil, errors.New("relay: pool, producer, kafka admin and logger are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = 16 << 20
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	return &Relay{cfg: cfg, pool: pool, prod: prod, admin: admin, log: log, nudge: make(chan struct{}, 1), done: make(chan struct{}),
		waiters: map[*waiter]struct{}{}, byID: map[int64][]*waiter{}, wake: make(chan struct{}, 1), positioned: map[string]bool{}}, nil
}

// Nudge tells the relay there is something to publish now.
func (r *Relay) Nudge() {
	select {
	case r.nudge <- struct{}{}:
	default:
	}
}

func lockKey() int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("catalog.outbox.relay"))
	return int64(h.Sum64())
}

// errSessionLost reports that the relay's database session ended, and its
// advisory lock with it.
var errSessionLost = errors.New("relay session lost")

// Run relays until ctx ends. When its database session breaks (and the
// lock with it), or PostgreSQL cannot be reached for a new one (down, or
// restarting and not yet accepting connections), it takes a new session
// and the lock again, waiting 1 s, then up to 10 s, between attempts.
func (r *Relay) Run(ctx context.Context) error {
	pause := time.Second
	for {
		began := time.Now()
		err := r.runSession(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, errSessionLost) {
			return err
		}
		r.log.Error("outbox relay lost its database session and the relay lock; taking them again", "err", err, "in", pause)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(pause):
		}
		if time.Since(began) > time.Minute {
			pause = time.Second // the last session worked for a while
		} else {
			pause = min(2*pause, 10*time.Second)
		}
	}
}

// runSession relays on one session, which holds the relay lock. Every
// read and write of the relay goes through that session rather than the
// pool: under load the pool is busy with deliveries, and a relay queued
// behind them would hold back the confirmations those deliveries wait for.
func (r *Relay) runSession(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		// PostgreSQL down or not accepting connections yet: a dependency
		// fault, waited out like a broken session.
		return fmt.Errorf("%w: connect: %w", errSessionLost, err)
	}
	defer conn.Release()
	// The outbox is a queue: it fills and empties within a second, and
	// autovacuum, finding it empty, truncates it and records no live rows.
	// A plan cached then (pgx prepares statements; after five executions
	// PostgreSQL may keep a generic plan) believes the table empty until the
	// next vacuum and, once a backlog arrives, scans the whole table once
	// per pending row (measured: 18,000 buffers and 19 ms a read at 500 deliveries/s,
	// against 30 buffers when planned for the table as it is). Custom plans
	// are made at each execution from the table's current size.
	if _, err := conn.Exec(ctx, `set plan_cache_mode = force_custom_plan`); err != nil {
		return fmt.Errorf("%w: session settings: %w", errSessionLost, err)
	}
	defer func() {
		// The session goes back to the pool: its settings must not go with
		// it. A session that cannot reset them is closed instead.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(rctx, `reset plan_cache_mode`); err != nil {
			_ = conn.Conn().Close(rctx)
		}
	}()
	r.sess = conn
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, lockKey()).Scan(&ok); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("%w: relay lock: %w", errSessionLost, err)
		}
		if ok {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	defer func() { _, _ = conn.Exec(context.Background(), `select pg_advisory_unlock($1)`, lockKey()) }()
	r.log.Info("outbox relay active")
	if err := r.reportBlocked(ctx); err != nil {
		r.log.Error("outbox: listing blocked rows failed", "err", err)
	}

	recovered := false
	backoff := time.Duration(0)
	for {
		if !recovered {
			if err := r.recover(ctx); err != nil {
				if conn.Conn().IsClosed() {
					return fmt.Errorf("%w: %w", errSessionLost, err)
				}
				r.log.Error("outbox recovery failed; retrying", "err", err)
				backoff = nextBackoff(backoff)
			} else {
				recovered = true
			}
		}
		if recovered {
			if err := r.pump(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				if conn.Conn().IsClosed() {
					return fmt.Errorf("%w: %w", errSessionLost, err)
				}
				r.log.Error("outbox relay round failed; retrying", "err", err)
				recovered = false
				backoff = nextBackoff(backoff)
			} else {
				backoff = 0
			}
		}
		wait := r.cfg.Poll
		if backoff > 0 {
			wait = backoff
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.nudge:
		case <-time.After(wait):
		}
	}
}

func nextBackoff(b time.Duration) time.Duration {
	if b == 0 {
		return 200 * time.Millisecond
	}
	return min(2*b, 5*time.Second)
}

type row struct {
	id      int64
	topic   string
	key     string
	eventID string
	env     events.Envelope
	trace   map[string]string // the writer's trace context, nil when not traced
	bad     error             // why the row can never be sent, found before sending
}

// batch is what one read of the outbox found to send: its rows in layers
// (layer i holds the i-th pending row of each key, so a layer has at most
// one row of a key).
type batch struct {
	read   int // rows read, those blocked at once included
	layers [][]row
}

// published is what sending a batch came to: the rows Kafka has, with
// their positions, and the error that stopped the sending, if one did
// (some rows may have reached Kafka all the same, which recovery finds).
type published struct {
	sent []row
	pos  []events.Position
	err  error
}

// pump relays until a read of the outbox finds nothing to send. Each
// round sends one batch and answers its waiters on Kafka's acknowledgement;
// the next round's read carries the deletion of the batch's rows and its
// partitions' new positions in the same round trip, so a round costs
// Kafka's acknowledgement and one wait for PostgreSQL. Rounds never overlap:
// a batch goes to Kafka only once the one before is acknowledged, so its
// records land after that batch's in every partition, and the positions a
// commit stores never pass a record whose row is still in the outbox
// (recovery scans from them). A row that fails for a reason other than a
// refusal fails the pump, and recovery then finds what reached Kafka.
func (r *Relay) pump(ctx context.Context) error {
	var done *published // sent, its rows not yet deleted
	for {
		next, err := r.read(ctx, done)
		if err != nil {
			return err
		}
		if next.read == 0 {
			return nil
		}
		r.hook("before-publish")
		got := r.publish(ctx, next)
		r.hook("after-publish")
		r.relayedEvents.Add(uint64(len(got.sent)))
		r.acked(got.sent)
		r.hook("acknowledged")
		if got.err != nil {
			return got.err
		}
		done = &got
	}
}

// read deletes the rows of a published batch and stores its partitions'
// new positions (when done is not nil), then takes the oldest pending rows
// of keys that are not blocked, all in one round trip (an implicit
// transaction: pgx sends a batch outside a transaction as one, all or
// nothing). It blocks at once any row that can never be sent.
func (r *Relay) read(ctx context.Context, done *published) (batch, error) {
	q := &pgx.Batch{}
	if done != nil && len(done.sent) > 0 {
		ids := make([]int64, len(done.sent))
		next := map[[2]any]int64{}
		for i, b := range done.sent {
			ids[i] = b.id
			k := [2]any{b.topic, done.pos[i].Partition}
			next[k] = max(next[k], done.pos[i].Offset+1)
		}
		q.Queue(`delete from outbox where id = any($1)`, ids)
		for k, off := range next {
			q.Queue(`update outbox_positions set next_offset = greatest(next_offset, $3) where topic = $1 and partition = $2`, k[0], k[1], off)
		}
	}
	var all []row
	q.Queue(`select id, topic, key, event_id::text, headers, payload, trace from (
			select *, sum(octet_length(payload)) over (order by id) - octet_length(payload) as before
			from (select id, topic, key, event_id, headers, payload, trace from outbox o
				where not exists (select 1 from outbox b where b.key = o.key and b.blocked_at is not null)
				order by id limit $1) l
		) w where before < $2 order by id`, r.cfg.BatchSize, r.cfg.MaxBatchBytes).Query(func(rows pgx.Rows) error {
		var rw row
		var headers map[string]string
		var payload []byte
		_, err := pgx.ForEachRow(rows, []any{&rw.id, &rw.topic, &rw.key, &rw.eventID, &headers, &payload, &rw.trace}, func() error {
			rw.env, rw.bad = events.Decode(headers, payload)
			if rw.bad != nil {
				rw.bad = fmt.Errorf("not a catalog event: %w", rw.bad)
			} else if n := events.RecordSize(rw.env); n > events.ProducerMaxMessageBytes {
				rw.bad = fmt.Errorf("a record of %d bytes is over the producer's limit of %d bytes", n, events.ProducerMaxMessageBytes)
			}
			all = append(all, rw)
			headers, rw.trace = nil, nil // scanning JSON into a non-nil map would merge rows
			return nil
		})
		return err
	})
	if err := r.sess.SendBatch(ctx, q).Close(); err != nil {
		if done != nil {
			return batch{}, fmt.Errorf("delete relayed rows, store relay positions and read outbox: %w", err)
		}
		return batch{}, fmt.Errorf("read outbox: %w", err)
	}
	if done != nil {
		r.mu.Lock()
		close(r.done)
		r.done = make(chan struct{})
		r.mu.Unlock()
	}
	b := batch{read: len(all)}
	blocked := map[string]bool{}
	for _, x := range all {
		if x.bad != nil && !blocked[x.key] {
			if err := r.block(ctx, x, x.bad); err != nil {
				return batch{}, err
			}
			blocked[x.key] = true
		}
	}
	depth := map[string]int{}
	for _, x := range all {
		if blocked[x.key] {
			continue
		}
		d := depth[x.key]
		depth[x.key] = d + 1
		if d == len(b.layers) {
			b.layers = append(b.layers, nil)
		}
		b.layers[d] = append(b.layers[d], x)
		if err := r.ensurePositions(ctx, x.topic); err != nil {
			return batch{}, err
		}
	}
	return b, nil
}

// publish sends a batch layer by layer. A row Kafka refuses for good is
// blocked, and holds back the later rows of its key (they are left in the
// outbox, behind it).
func (r *Relay) publish(ctx context.Context, b batch) published {
	var p published
	held := map[string]bool{}
	for _, layer := range b.layers {
		live := layer[:0:0]
		for _, x := range layer {
			if !held[x.key] {
				live = append(live, x)
			}
		}
		if len(live) == 0 {
			continue
		}
		if p.err = r.send(ctx, live, held, &p); p.err != nil {
			return p // recovery finds what reached Kafka
		}
	}
	return p
}

// send produces rows of distinct keys and adds those Kafka has, with
// their positions, to p. A row refused permanently is blocked and its key
// added to held; any other failure is returned. A broker refuses a whole
// batch of a partition at once, so each refused row is tried again alone
// before it is blocked: only the culprit is.
func (r *Relay) send(ctx context.Context, layer []row, held map[string]bool, p *published) error {
	out := make([]events.Outgoing, len(layer))
	for i, b := range layer {
		out[i] = events.Outgoing{Topic: b.topic, Envelope: b.env, Trace: b.trace}
	}
	spans := r.startSends(ctx, layer, out)
	pos, err := r.prod.Send(out)
	endSends(spans, pos, err)
	if err == nil {
		p.sent, p.pos = append(p.sent, layer...), append(p.pos, pos...)
		return nil
	}
	var se *events.SendError
	if !errors.As(err, &se) {
		return err
	}
	for i, b := range layer {
		if _, failed := se.Failed[i]; !failed {
			p.sent, p.pos = append(p.sent, b), append(p.pos, pos[i])
		}
	}
	for _, ferr := range se.Failed {
		if !events.IsPermanent(ferr) {
			return err
		}
	}
	for i := range layer {
		if _, failed := se.Failed[i]; !failed {
			continue
		}
		b := layer[i]
		one, err := r.prod.Send([]events.Outgoing{out[i]})
		switch {
		case err == nil:
			p.sent, p.pos = append(p.sent, b), append(p.pos, one[0])
		case events.IsPermanent(err):
			if err := r.block(ctx, b, err); err != nil {
				return err
			}
			held[b.key] = true
		default:
			return err
		}
	}
	return nil
}

// block marks a row Kafka can never accept, so the relay stops sending its
// key (and only its key), and says so loudly.
func (r *Relay) block(ctx context.Context, b row, reason error) error {
	if _, err := r.sess.Exec(ctx, `update outbox set blocked_at = now(), blocked_reason = $2 where id = $1 and blocked_at is null`,
		b.id, reason.Error()); err != nil {
		return fmt.Errorf("block outbox row %d: %w", b.id, err)
	}
	r.log.Error("outbox row can never be sent to Kafka; its release's events are held until an operator clears it (docs/operations.md)",
		"row", b.id, "topic", b.topic, "key", b.key, "event_id", b.eventID, "type", b.env.Type, "sequence", b.env.Sequence, "err", reason)
	return nil
}

func (r *Relay) hook(stage string) {
	if r.cfg.Hook != nil {
		r.cfg.Hook(stage)
	}
}

// ensurePositions records the end of every partition of topic that has no
// stored position yet, before the relay first writes there, so recovery
// always knows where to start looking.
func (r *Relay) ensurePositions(ctx context.Context, topic string) error {
	if r.positioned[topic] {
		return nil
	}
	var n int
	if err := r.sess.QueryRow(ctx, `select count(*) from outbox_positions where topic = $1`, topic).Scan(&n); err != nil {
		return fmt.Errorf("relay positions: %w", err)
	}
	hw, err := r.admin.HighWatermarks(ctx, topic)
	if err != nil {
		return err
	}
	if n != len(hw) {
		for p, off := range hw {
			if _, err := r.sess.Exec(ctx, `insert into outbox_positions (topic, partition, next_offset) values ($1, $2, $3)
				on conflict (topic, partition) do nothing`, topic, p, off); err != nil {
				return fmt.Errorf("relay positions: %w", err)
			}
		}
	}
	r.positioned[topic] = true
	return nil
}

// recover deletes outbox rows whose events are already in Kafka: those a
// relay produced but could not delete before it died.
func (r *Relay) recover(ctx context.Context) error {
	rows, err := r.sess.Query(ctx, `select topic, partition, next_offset from outbox_positions`)
	if err != nil {
		return fmt.Errorf("relay positions: %w", err)
	}
	type pos struct {
		topic string
		p     int32
		off   int64
	}
	var all []pos
	var x pos
	if _, err := pgx.ForEachRow(rows, []any{&x.topic, &x.p, &x.off}, func() error { all = append(all, x); return nil }); err != nil {
		return fmt.Errorf("relay positions: %w", err)
	}
	for _, p := range all {
		ids, end, err := events.EventIDs(r.cfg.Kafka, p.topic, p.p, p.off)
		if err != nil {
			return err
		}
		if end == p.off {
			continue
		}
		list := make([]string, 0, len(ids))
		for id := range ids {
			list = append(list, id)
		}
		err = pgx.BeginFunc(ctx, r.sess, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `delete from outbox where topic = $1 and event_id = any($2::uuid[])`, p.topic, list)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				r.log.Warn("outbox rows were already in Kafka; not publishing them again",
					"topic", p.topic, "partition", p.p, "rows", tag.RowsAffected())
			}
			_, err = tx.Exec(ctx, `update outbox_positions set next_offset = $3 where topic = $1 and partition = $2`, p.topic, p.p, end)
			return err
		})
		if err != nil {
			return fmt.Errorf("relay recovery of %s/%d: %w", p.topic, p.p, err)
		}
	}
	return nil
}

// reportBlocked logs every blocked row again at start, so a restart does
// not hide one.
func (r *Relay) reportBlocked(ctx context.Context) error {
	rows, err := BlockedRows(ctx, r.pool)
	if err != nil {
		return err
	}
	for _, b := range rows {
		r.log.Error("outbox row is blocked: Kafka can never accept it; its release's events are held until an operator clears it (docs/operations.md)",
			"row", b.ID, "topic", b.Topic, "key", b.Key, "event_id", b.EventID, "sequence", b.Sequence,
			"blocked_at", b.BlockedAt, "held_behind", b.Held, "err", b.Reason)
	}
	return nil
}

// Stats reads the outbox's state (for metrics); any process may call it.
func (r *Relay) Stats(ctx context.Context) (Stats, error) { return ReadStats(ctx, r.pool) }

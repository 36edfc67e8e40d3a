package eventpg

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/events"
)

//go:embed migrations/*.sql
var migrations embed.FS

// MigrateOutbox creates the outbox tables.
func MigrateOutbox(ctx context.Context, pool *pgxpool.Pool) error {
	return Migrate(ctx, pool, "outbox_schema_version", migrations)
}

// ErrNotConfirmed reports events still in the outbox when a wait ended:
// they are safe and will be published, but Kafka has not confirmed them yet.
var ErrNotConfirmed = errors.New("events not yet confirmed by Kafka")

// Append writes envelopes bound for topic to the outbox inside tx and
// returns their outbox ids, in order.
func Append(ctx context.Context, tx pgx.Tx, topic string, envs []events.Envelope) ([]int64, error) {
	ids := make([]int64, len(envs))
	b := &pgx.Batch{}
	for i, e := range envs {
		h, err := json.Marshal(e.Headers())
		if err != nil {
			return nil, fmt.Errorf("outbox headers: %w", err)
		}
		b.Queue(`insert into outbox (topic, key, event_id, headers, payload) values ($1, $2, $3, $4, $5) returning id`,
			topic, e.Subject, e.ID, h, []byte(e.Data)).QueryRow(func(row pgx.Row) error { return row.Scan(&ids[i]) })
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("append to outbox: %w", err)
	}
	return ids, nil
}

// RelayConfig configures a Relay.
type RelayConfig struct {
	Kafka events.KafkaConfig
	// BatchSize caps the records produced per round (default 500).
	BatchSize int
	// Poll is how often the outbox is checked without a nudge (default 250 ms).
	Poll time.Duration
	// Hook, when set, is called at "before-publish" and "after-publish";
	// crash tests use it to kill the process at exactly those points.
	Hook func(stage string)
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
	log   *slog.Logger
	nudge chan struct{}

	mu   sync.Mutex
	done chan struct{} // closed (and replaced) after every relayed batch

	positioned map[string]bool // topics whose partitions all have a stored position
}

// NewRelay builds a relay; Run starts it.
func NewRelay(cfg RelayConfig, pool *pgxpool.Pool, prod *events.Producer, log *slog.Logger) (*Relay, error) {
	if pool == nil || prod == nil || log == nil {
		return nil, errors.New("relay: pool, producer and logger are required")
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 500
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	return &Relay{cfg: cfg, pool: pool, prod: prod, log: log, nudge: make(chan struct{}, 1), done: make(chan struct{}),
		positioned: map[string]bool{}}, nil
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

// Run relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	conn, err := r.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	defer conn.Release()
	for {
		var ok bool
		if err := conn.QueryRow(ctx, `select pg_try_advisory_lock($1)`, lockKey()).Scan(&ok); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("relay lock: %w", err)
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

	recovered := false
	backoff := time.Duration(0)
	for {
		if !recovered {
			if err := r.recover(ctx); err != nil {
				r.log.Error("outbox recovery failed; retrying", "err", err)
				backoff = nextBackoff(backoff)
			} else {
				recovered = true
			}
		}
		if recovered {
			n, err := r.round(ctx)
			switch {
			case err != nil:
				if ctx.Err() != nil {
					return nil
				}
				r.log.Error("outbox relay round failed; retrying", "err", err)
				recovered = false
				backoff = nextBackoff(backoff)
			case n == r.cfg.BatchSize:
				continue
			default:
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
	eventID string
	env     events.Envelope
}

// round produces the oldest pending rows and deletes them.
func (r *Relay) round(ctx context.Context) (int, error) {
	rows, err := r.pool.Query(ctx, `select id, topic, event_id::text, headers, payload from outbox order by id limit $1`, r.cfg.BatchSize)
	if err != nil {
		return 0, fmt.Errorf("read outbox: %w", err)
	}
	var batch []row
	var rw row
	var headers map[string]string
	var payload []byte
	_, err = pgx.ForEachRow(rows, []any{&rw.id, &rw.topic, &rw.eventID, &headers, &payload}, func() error {
		env, err := events.Decode(headers, payload)
		if err != nil {
			return fmt.Errorf("outbox row %d: %w", rw.id, err)
		}
		rw.env = env
		batch = append(batch, rw)
		headers = nil // scanning JSON into a non-nil map would merge rows
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(batch) == 0 {
		return 0, nil
	}
	topics := map[string]bool{}
	out := make([]events.Outgoing, len(batch))
	for i, b := range batch {
		topics[b.topic] = true
		out[i] = events.Outgoing{Topic: b.topic, Envelope: b.env}
	}
	for t := range topics {
		if err := r.ensurePositions(ctx, t); err != nil {
			return 0, err
		}
	}
	r.hook("before-publish")
	pos, err := r.prod.Send(out)
	if err != nil {
		return 0, err
	}
	r.hook("after-publish")
	ids := make([]int64, len(batch))
	next := map[[2]any]int64{}
	for i, b := range batch {
		ids[i] = b.id
		k := [2]any{b.topic, pos[i].Partition}
		next[k] = max(next[k], pos[i].Offset+1)
	}
	if err := r.commit(ctx, ids, next); err != nil {
		return 0, err
	}
	r.mu.Lock()
	close(r.done)
	r.done = make(chan struct{})
	r.mu.Unlock()
	return len(batch), nil
}

func (r *Relay) hook(stage string) {
	if r.cfg.Hook != nil {
		r.cfg.Hook(stage)
	}
}

func (r *Relay) commit(ctx context.Context, ids []int64, next map[[2]any]int64) error {
	return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `delete from outbox where id = any($1)`, ids); err != nil {
			return fmt.Errorf("delete relayed rows: %w", err)
		}
		for k, off := range next {
			if _, err := tx.Exec(ctx, `update outbox_positions set next_offset = greatest(next_offset, $3) where topic = $1 and partition = $2`,
				k[0], k[1], off); err != nil {
				return fmt.Errorf("store relay position: %w", err)
			}
		}
		return nil
	})
}

// ensurePositions records the end of every partition of topic that has no
// stored position yet, before the relay first writes there, so recovery
// always knows where to start looking.
func (r *Relay) ensurePositions(ctx context.Context, topic string) error {
	if r.positioned[topic] {
		return nil
	}
	var n int
	if err := r.pool.QueryRow(ctx, `select count(*) from outbox_positions where topic = $1`, topic).Scan(&n); err != nil {
		return fmt.Errorf("relay positions: %w", err)
	}
	hw, err := events.HighWatermarks(r.cfg.Kafka, topic)
	if err != nil {
		return err
	}
	if n != len(hw) {
		for p, off := range hw {
			if _, err := r.pool.Exec(ctx, `insert into outbox_positions (topic, partition, next_offset) values ($1, $2, $3)
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
	rows, err := r.pool.Query(ctx, `select topic, partition, next_offset from outbox_positions`)
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
		err = pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
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

// relayed returns a channel closed when the relay in this process next
// finishes a batch.
func (r *Relay) relayed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Wait returns once none of the outbox rows ids (nor, when key is not
// empty, any row with that key) is pending, or fails with ErrNotConfirmed
// when timeout passes first. It wakes when this process's relay finishes a
// batch, and polls too, for when another process holds the relay lock.
func (r *Relay) Wait(ctx context.Context, ids []int64, key string, timeout time.Duration) error {
	r.Nudge()
	deadline := time.Now().Add(timeout)
	delay := 5 * time.Millisecond
	for {
		batch := r.relayed()
		var n int
		if err := r.pool.QueryRow(ctx, `select count(*) from outbox where id = any($1) or key = $2`, ids, key).Scan(&n); err != nil {
			return fmt.Errorf("outbox: %w", err)
		}
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d events: %w", n, ErrNotConfirmed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-batch:
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

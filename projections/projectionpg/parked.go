package projectionpg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/projections"
)

// ErrNotParked reports a parked-event id that does not exist (or is not
// the first of its release's queue).
var ErrNotParked = errors.New("no such parked event at the head of its release's queue")

func (w *Writer) parkedKeys(ctx context.Context, tx pgx.Tx, keys map[string]bool) (map[string]bool, error) {
	list := make([]string, 0, len(keys))
	for k := range keys {
		list = append(list, k)
	}
	rows, err := tx.Query(ctx, `select distinct key from projection_parked where projection = $1 and generation = $2 and key = any($3)`,
		w.name, w.gen, list)
	if err != nil {
		return nil, fmt.Errorf("parked keys: %w", err)
	}
	out := map[string]bool{}
	k, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("parked keys: %w", err)
	}
	for _, x := range k {
		out[x] = true
	}
	return out, nil
}

func (w *Writer) park(ctx context.Context, tx pgx.Tx, it projections.Item, reason string, behind int64) (int64, error) {
	h, err := json.Marshal(it.Record.Headers)
	if err != nil {
		return 0, err
	}
	var b *int64
	if behind != 0 {
		b = &behind
	} else {
		// Behind the last parked event of the release, if any.
		err := tx.QueryRow(ctx, `select max(id) from projection_parked where projection = $1 and generation = $2 and key = $3`,
			w.name, w.gen, it.Key).Scan(&b)
		if err != nil {
			return 0, fmt.Errorf("park: %w", err)
		}
	}
	var id int64
	err = tx.QueryRow(ctx, `insert into projection_parked (projection, generation, topic, partition, "offset", key, headers, payload, reason, behind)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		on conflict (projection, generation, topic, partition, "offset") do update set reason = excluded.reason
		returning id`, w.name, w.gen, it.Record.Topic, it.Record.Partition, it.Record.Offset, it.Key, h, it.Record.Value, reason, b).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("park %s/%d@%d: %w", it.Record.Topic, it.Record.Partition, it.Record.Offset, err)
	}
	return id, nil
}

// Parked is a parked event.
type Parked struct {
	ID         int64     `json:"id"`
	Generation int       `json:"generation"`
	Topic      string    `json:"topic"`
	Partition  int32     `json:"partition"`
	Offset     int64     `json:"offset"`
	Key        string    `json:"key"`
	Reason     string    `json:"reason"`
	Behind     *int64    `json:"behind,omitempty"`
	ParkedAt   time.Time `json:"parkedAt"`
	Type       string    `json:"type"`
}

// ListParked returns the parked events of every generation, oldest first.
func (s *Store) ListParked(ctx context.Context) ([]Parked, error) {
	rows, err := s.pool.Query(ctx, `select id, generation, topic, partition, "offset", key, reason, behind, parked_at, coalesce(headers->>'ce_type', '')
		from projection_parked where projection = $1 order by id`, s.name)
	if err != nil {
		return nil, fmt.Errorf("parked: %w", err)
	}
	var out []Parked
	var p Parked
	_, err = pgx.ForEachRow(rows, []any{&p.ID, &p.Generation, &p.Topic, &p.Partition, &p.Offset, &p.Key, &p.Reason, &p.Behind, &p.ParkedAt, &p.Type},
		func() error { out = append(out, p); return nil })
	return out, err
}

// CountParked returns how many events are parked, per generation.
func (s *Store) CountParked(ctx context.Context) (map[int]int, error) {
	rows, err := s.pool.Query(ctx, `select generation, count(*) from projection_parked where projection = $1 group by generation`, s.name)
	if err != nil {
		return nil, err
	}
	out := map[int]int{}
	var g, n int
	_, err = pgx.ForEachRow(rows, []any{&g, &n}, func() error { out[g] = n; return nil })
	return out, err
}

// ReplacePayload swaps a parked event's payload for a repaired one (ops'
// fix for an event that can never be read as it was written); retry then
// applies it. The event in Kafka is never rewritten.
func (s *Store) ReplacePayload(ctx context.Context, id int64, payload []byte) error {
	tag, err := s.pool.Exec(ctx, `update projection_parked set payload = $3 where projection = $1 and id = $2`, s.name, id, payload)
	if err != nil {
		return fmt.Errorf("replace payload of %d: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("parked event %d: %w", id, ErrNotParked)
	}
	return nil
}

// Retry applies the parked event id, which must be the first of its
// release's queue, and then the events parked behind it, in order, in one
// transaction. Whatever still cannot be applied stays parked (with its
// new reason) and so does everything behind it. It returns how many were
// applied.
func (s *Store) Retry(ctx context.Context, id int64) (int, error) {
	return s.resolve(ctx, id, false)
}

// Skip drops the parked event id (the first of its release's queue) for
// good, then applies the events parked behind it as Retry does.
func (s *Store) Skip(ctx context.Context, id int64) (int, error) {
	return s.resolve(ctx, id, true)
}

func (s *Store) resolve(ctx context.Context, id int64, skipFirst bool) (int, error) {
	applied := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var gen int
		var key string
		err := tx.QueryRow(ctx, `select generation, key from projection_parked where projection = $1 and id = $2 and behind is null for update`,
			s.name, id).Scan(&gen, &key)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("parked event %d: %w", id, ErrNotParked)
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select id, topic, partition, "offset", headers, payload from projection_parked
			where projection = $1 and generation = $2 and key = $3 order by id for update`, s.name, gen, key)
		if err != nil {
			return err
		}
		type parked struct {
			id  int64
			rec events.Record
		}
		var queue []parked
		var p parked
		var h map[string]string
		if _, err := pgx.ForEachRow(rows, []any{&p.id, &p.rec.Topic, &p.rec.Partition, &p.rec.Offset, &h, &p.rec.Value}, func() error {
			p.rec.Headers, p.rec.Key, h = h, []byte(key), nil
			queue = append(queue, p)
			return nil
		}); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from projection_parked where projection = $1 and generation = $2 and key = $3`, s.name, gen, key); err != nil {
			return err
		}
		w := s.Writer(gen)
		var items []projections.Item
		for i, q := range queue {
			if i == 0 && skipFirst {
				continue
			}
			it := projections.Item{Record: q.rec, Key: key}
			c, ok, err := projections.Decode(q.rec)
			switch {
			case err != nil:
				it.Poison = err.Error()
			case !ok:
				it.Skip = true
			default:
				it.Change = &c
			}
			items = append(items, it)
		}
		res, err := w.applyIn(ctx, tx, items)
		applied = res.Applied
		return err
	})
	return applied, err
}

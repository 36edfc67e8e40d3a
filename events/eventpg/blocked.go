package eventpg

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrNotBlocked reports an outbox row that does not exist or is not
// blocked.
var ErrNotBlocked = errors.New("no such blocked outbox row")

// Stats is the outbox at one moment.
type Stats struct {
	// Pending is the number of rows not yet in Kafka, blocked ones included.
	Pending int64 `json:"pending"`
	// Blocked is the number of rows Kafka can never accept; each holds back
	// its release until an operator clears it.
	Blocked int64 `json:"blocked"`
	// Held is the number of rows waiting behind a blocked row of their key.
	Held int64 `json:"held"`
	// Oldest is the age of the oldest pending row (zero when none is).
	Oldest time.Duration `json:"oldestNanos"`
}

// ReadStats reads the outbox's state.
func ReadStats(ctx context.Context, pool *pgxpool.Pool) (Stats, error) {
	var s Stats
	var oldest float64
	err := pool.QueryRow(ctx, `select count(*), count(*) filter (where blocked_at is not null),
			count(*) filter (where blocked_at is null and key in (select key from outbox where blocked_at is not null)),
			coalesce(extract(epoch from now() - min(created_at)), 0)::float8
		from outbox`).Scan(&s.Pending, &s.Blocked, &s.Held, &oldest)
	if err != nil {
		return Stats{}, fmt.Errorf("outbox stats: %w", err)
	}
	s.Oldest = time.Duration(oldest * float64(time.Second))
	return s, nil
}

// BlockedRow is an outbox row the relay found it can never send, and the
// rows of its release held behind it.
type BlockedRow struct {
	ID        int64     `json:"id"`
	Topic     string    `json:"topic"`
	Key       string    `json:"key"`
	EventID   string    `json:"eventId"`
	Type      string    `json:"type"`
	Sequence  string    `json:"sequence"`
	Bytes     int64     `json:"bytes"`
	BlockedAt time.Time `json:"blockedAt"`
	Reason    string    `json:"reason"`
	// Held is the number of later rows of the same key waiting behind it.
	Held int64 `json:"held"`
}

// BlockedRows lists the blocked outbox rows, oldest first.
func BlockedRows(ctx context.Context, pool *pgxpool.Pool) ([]BlockedRow, error) {
	rows, err := pool.Query(ctx, `select id, topic, key, event_id::text, coalesce(headers->>'ce_type', ''),
			coalesce(headers->>'ce_sequence', ''), octet_length(payload), blocked_at, coalesce(blocked_reason, ''),
			(select count(*) from outbox h where h.key = o.key and h.id > o.id)
		from outbox o where blocked_at is not null order by id`)
	if err != nil {
		return nil, fmt.Errorf("list blocked outbox rows: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (BlockedRow, error) {
		var b BlockedRow
		err := row.Scan(&b.ID, &b.Topic, &b.Key, &b.EventID, &b.Type, &b.Sequence, &b.Bytes, &b.BlockedAt, &b.Reason, &b.Held)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list blocked outbox rows: %w", err)
	}
	return out, nil
}

// Unblock clears the mark on blocked row id, so the relay tries to send it
// (and its release's rows behind it) again: for use once whatever refused
// it is fixed, such as a topic's max.message.bytes that was lowered by
// hand. A row that is still too large is blocked again at once, loudly.
func Unblock(ctx context.Context, pool *pgxpool.Pool, id int64) (BlockedRow, error) {
	rows, err := BlockedRows(ctx, pool)
	if err != nil {
		return BlockedRow{}, err
	}
	for _, b := range rows {
		if b.ID != id {
			continue
		}
		tag, err := pool.Exec(ctx, `update outbox set blocked_at = null, blocked_reason = null where id = $1 and blocked_at is not null`, id)
		if err != nil {
			return BlockedRow{}, fmt.Errorf("unblock outbox row %d: %w", id, err)
		}
		if tag.RowsAffected() == 0 {
			break
		}
		return b, nil
	}
	return BlockedRow{}, fmt.Errorf("outbox row %d: %w", id, ErrNotBlocked)
}

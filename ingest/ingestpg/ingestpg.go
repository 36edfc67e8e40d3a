// Package ingestpg is the PostgreSQL store of ingest's write-side state:
// release streams (version and current state per release), the identifiers
// that lead to them, the catalogue ids assigned to releases, tracks and
// artists, and, in the same transactions, the outbox of events.
package ingestpg

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/pgmigrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the store's tables, and the outbox's, up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := eventpg.MigrateOutbox(ctx, pool); err != nil {
		return err
	}
	return pgmigrate.Migrate(ctx, pool, "ingest_schema_version", migrations)
}

// Store implements ingest.Store.
type Store struct {
	pool *pgxpool.Pool
}

// New returns a Store on pool. Run Migrate first.
func New(pool *pgxpool.Pool) (*Store, error) {
	if pool == nil {
		return nil, errors.New("ingestpg: pool is required")
	}
	return &Store{pool: pool}, nil
}

// Update implements ingest.Store. The stream row stays locked for the
// length of fn, so deliveries of one release are decided one at a time.
func (s *Store) Update(ctx context.Context, ref ingest.StreamRef, create bool, fn func(context.Context, ingest.Stream, ingest.IDAssigner) (ingest.Change, error)) (outboxIDs []int64, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			if rb := tx.Rollback(ctx); rb != nil && !errors.Is(rb, pgx.ErrTxClosed) {
				err = errors.Join(err, rb)
			}
		}
	}()
	rows, err := tx.Query(ctx, `select distinct stream_key from release_identifiers
		where (kind = 'upc' and value = $1) or (kind = 'grid' and value = $2)`, ref.UPC, ref.GRid)
	if err != nil {
		return nil, fmt.Errorf("find release: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("find release: %w", err)
	}
	var st ingest.Stream
	newStream := false
	switch {
	case len(keys) > 1:
		return nil, fmt.Errorf("UPC %q and GRid %q: %w", ref.UPC, ref.GRid, ingest.ErrIdentityConflict)
	case len(keys) == 1:
		st.Key = keys[0]
	case !create:
		// Unknown release: decide against the empty state, store nothing.
		ch, err := fn(ctx, st, txAssigner{tx})
		if err != nil {
			return nil, err
		}
		if len(ch.Events) > 0 {
			return nil, errors.New("ingestpg: events for a release that does not exist")
		}
		return nil, tx.Commit(ctx)
	default:
		st.Key = ref.UPC
		if st.Key == "" {
			st.Key = ref.GRid
		}
		newStream = true
	}

	// One round trip creates the stream if need be, locks it, reads its
	// state and whether the release is blocked in the outbox.
	var raw []byte
	var blocked *int64
	b := &pgx.Batch{}
	if newStream {
		b.Queue(`insert into release_streams (stream_key) values ($1) on conflict (stream_key) do nothing`, st.Key)
	}
	b.Queue(`select release_id, version, state from release_streams where stream_key = $1 for update`, st.Key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&st.State.ReleaseID, &st.State.Version, &raw) })
	b.Queue(`select min(id) from outbox where key = $1 and blocked_at is not null`, st.Key).
		QueryRow(func(row pgx.Row) error { return row.Scan(&blocked) })
	if err = tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("lock stream %s: %w", st.Key, err)
	}
	if raw != nil {
		id, version := st.State.ReleaseID, st.State.Version
		if err = json.Unmarshal(raw, &st.State); err != nil {
			return nil, fmt.Errorf("stream %s state: %w", st.Key, err)
		}
		st.State.ReleaseID, st.State.Version = id, version
	}

	// A release whose events are blocked in the outbox takes no new ones:
	// they could not reach Kafka before the blocked row anyway.
	if blocked != nil {
		return nil, fmt.Errorf("release %s, outbox row %d: %w", st.Key, *blocked, events.ErrBlocked)
	}

	ch, err := fn(ctx, st, txAssigner{tx})
	if err != nil {
		return nil, err
	}
	next, err := json.Marshal(ch.Next)
	if err != nil {
		return nil, fmt.Errorf("stream %s state: %w", st.Key, err)
	}
	// One round trip saves the state, the identifiers and the events.
	b = &pgx.Batch{}
	b.Queue(`update release_streams set version = $2, state = $3, updated_at = now() where stream_key = $1`,
		st.Key, ch.Next.Version, next)
	if create {
		for _, id := range []struct{ kind, value string }{{"upc", ref.UPC}, {"grid", ref.GRid}} {
			if id.value == "" {
				continue
			}
			b.Queue(`insert into release_identifiers (kind, value, stream_key) values ($1, $2, $3)
				on conflict (kind, value) do nothing`, id.kind, id.value, st.Key)
		}
	}
	if len(ch.Events) > 0 {
		if outboxIDs, err = eventpg.QueueAppend(b, ch.Topic, ch.Events); err != nil {
			return nil, err
		}
	}
	if err = tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("save stream %s: %w", st.Key, err)
	}
	if err = tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit stream %s: %w", st.Key, err)
	}
	return outboxIDs, nil
}

type txAssigner struct{ tx pgx.Tx }

// AssignIDs inserts the names not seen before and the release's ISRCs it
// has not carried before, and reads back every id. Track ids are per
// (release, ISRC): the same recording on two releases is two tracks. They
// are numbered in the order isrcs gives (the tracklist's), so a release's
// ids ascend with its tracklist. The release's stream row is locked by the
// caller's transaction, so its ids are assigned one delivery at a time;
// concurrent first sightings of one artist name serialise on its key.
func (a txAssigner) AssignIDs(ctx context.Context, releaseID int64, artists []string, isrcs []release.ISRC) (release.IDs, error) {
	ids := release.IDs{Artists: map[string]int64{}, Tracks: map[release.ISRC]int64{}}
	codes := make([]string, len(isrcs))
	byCode := make(map[string]release.ISRC, len(isrcs))
	for i, v := range isrcs {
		codes[i] = v.String()
		byCode[codes[i]] = v
	}
	b := &pgx.Batch{}
	b.Queue(`insert into artist_ids (name) select unnest($1::text[]) order by 1 on conflict (name) do nothing`, artists)
	b.Queue(`insert into release_track_ids (release_id, isrc)
		select $1, u.isrc from unnest($2::text[]) with ordinality as u(isrc, n)
		where not exists (select 1 from release_track_ids r where r.release_id = $1 and r.isrc = u.isrc)
		order by u.n`, releaseID, codes)
	b.Queue(`select name, artist_id from artist_ids where name = any($1)`, artists).Query(func(rows pgx.Rows) error {
		var name string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error { ids.Artists[name] = id; return nil })
		return err
	})
	b.Queue(`select isrc, track_id from release_track_ids where release_id = $1 and isrc = any($2)`, releaseID, codes).Query(func(rows pgx.Rows) error {
		var code string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&code, &id}, func() error { ids.Tracks[byCode[code]] = id; return nil })
		return err
	})
	if err := a.tx.SendBatch(ctx, b).Close(); err != nil {
		return release.IDs{}, fmt.Errorf("assign ids of release %d: %w", releaseID, err)
	}
	return ids, nil
}

// Package ingestpg is the PostgreSQL store of ingest's write-side state:
// release streams (version and fingerprint per release) and the catalogue
// ids assigned to releases, tracks and artists.
package ingestpg

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/ingest"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the store's tables up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return eventpg.Migrate(ctx, pool, "ingest_schema_version", migrations)
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

// Update implements ingest.Store: it locks the release's stream row for the
// length of fn, so deliveries of one release are decided one at a time.
func (s *Store) Update(ctx context.Context, upc release.UPC, fn func(context.Context, release.Stream, ingest.IDAssigner) (release.Stream, error)) (err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, ignoreClosed(tx.Rollback(ctx)))
		}
	}()
	if _, err = tx.Exec(ctx, `insert into release_streams (upc) values ($1) on conflict (upc) do nothing`, upc.String()); err != nil {
		return fmt.Errorf("create stream %s: %w", upc, err)
	}
	var cur release.Stream
	err = tx.QueryRow(ctx, `select release_id, version, fingerprint from release_streams where upc = $1 for update`, upc.String()).
		Scan(&cur.ReleaseID, &cur.Version, &cur.Fingerprint)
	if err != nil {
		return fmt.Errorf("lock stream %s: %w", upc, err)
	}
	next, err := fn(ctx, cur, txAssigner{tx})
	if err != nil {
		return err
	}
	if next != cur {
		if _, err = tx.Exec(ctx, `update release_streams set version = $2, fingerprint = $3, updated_at = now() where upc = $1`,
			upc.String(), next.Version, next.Fingerprint); err != nil {
			return fmt.Errorf("save stream %s: %w", upc, err)
		}
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit stream %s: %w", upc, err)
	}
	return nil
}

func ignoreClosed(err error) error {
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

type txAssigner struct{ tx pgx.Tx }

// AssignIDs inserts the names and ISRCs not seen before and reads back every
// id. Concurrent first sightings of one ISRC serialise on its primary key,
// so both callers get the same id.
func (a txAssigner) AssignIDs(ctx context.Context, artists []string, isrcs []release.ISRC) (release.IDs, error) {
	ids := release.IDs{Artists: map[string]int64{}, Tracks: map[release.ISRC]int64{}}
	codes := make([]string, len(isrcs))
	byCode := make(map[string]release.ISRC, len(isrcs))
	for i, v := range isrcs {
		codes[i] = v.String()
		byCode[codes[i]] = v
	}
	b := &pgx.Batch{}
	b.Queue(`insert into artist_ids (name) select unnest($1::text[]) order by 1 on conflict (name) do nothing`, artists)
	b.Queue(`insert into track_ids (isrc) select unnest($1::text[]) order by 1 on conflict (isrc) do nothing`, codes)
	b.Queue(`select name, artist_id from artist_ids where name = any($1)`, artists).Query(func(rows pgx.Rows) error {
		var name string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&name, &id}, func() error { ids.Artists[name] = id; return nil })
		return err
	})
	b.Queue(`select isrc, track_id from track_ids where isrc = any($1)`, codes).Query(func(rows pgx.Rows) error {
		var code string
		var id int64
		_, err := pgx.ForEachRow(rows, []any{&code, &id}, func() error { ids.Tracks[byCode[code]] = id; return nil })
		return err
	})
	if err := a.tx.SendBatch(ctx, b).Close(); err != nil {
		return release.IDs{}, fmt.Errorf("assign ids: %w", err)
	}
	return ids, nil
}

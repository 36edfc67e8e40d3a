// Package projectionpg stores catalog's read models in PostgreSQL: the
// track-details tables, the projections' checkpoints (consumed offsets),
// and the queries the APIs run against them.
package projectionpg

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events/eventpg"
	"github.com/catalog-org/catalog/projections"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Migrate brings the read-model tables up to date.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	return eventpg.Migrate(ctx, pool, "projections_schema_version", migrations)
}

// TrackDetails is the PostgreSQL store of the track-details read model. It
// implements projections.TrackDetailsStore, events.OffsetStore and the
// API's track reader.
type TrackDetails struct {
	pool *pgxpool.Pool
}

// NewTrackDetails returns the store on pool. Run Migrate first.
func NewTrackDetails(pool *pgxpool.Pool) (*TrackDetails, error) {
	if pool == nil {
		return nil, errors.New("projectionpg: pool is required")
	}
	return &TrackDetails{pool: pool}, nil
}

// StoredOffsets implements events.OffsetStore.
func (s *TrackDetails) StoredOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	rows, err := s.pool.Query(ctx, `select partition, next_offset from projection_checkpoints where projection = $1 and topic = $2`,
		projections.TrackDetailsName, topic)
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	out := map[int32]int64{}
	var p int32
	var off int64
	if _, err := pgx.ForEachRow(rows, []any{&p, &off}, func() error { out[p] = off; return nil }); err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	return out, nil
}

// Apply implements projections.TrackDetailsStore.
func (s *TrackDetails) Apply(ctx context.Context, cp projections.Checkpoint, changes []projections.ReleaseDelivered) (res projections.ApplyResult, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	for _, c := range changes {
		applied, err := applyDelivered(ctx, tx, c.Sequence, c.Event)
		if err != nil {
			return res, err
		}
		if applied {
			res.Applied++
		} else {
			res.Stale++
		}
	}
	_, err = tx.Exec(ctx, `
		insert into projection_checkpoints (projection, topic, partition, next_offset, stale)
		values ($1, $2, $3, $4, $5)
		on conflict (projection, topic, partition) do update
		set next_offset = excluded.next_offset, stale = projection_checkpoints.stale + excluded.stale, updated_at = now()`,
		projections.TrackDetailsName, cp.Topic, cp.Partition, cp.NextOffset, res.Stale)
	if err != nil {
		return res, fmt.Errorf("store checkpoint: %w", err)
	}
	if err = tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// applyDelivered replaces a release's rows with the event's content, unless
// the release already reflects sequence seq or a later one.
func applyDelivered(ctx context.Context, tx pgx.Tx, seq int64, ev release.Delivered) (bool, error) {
	tag, err := tx.Exec(ctx, `
		insert into td_releases (release_id, upc, title, artist_id, artist_name, label, version)
		values ($1, $2, $3, $4, $5, $6, $7)
		on conflict (release_id) do update
		set upc = excluded.upc, title = excluded.title, artist_id = excluded.artist_id, artist_name = excluded.artist_name,
		    label = excluded.label, version = excluded.version, updated_at = now()
		where td_releases.version < excluded.version`,
		ev.ReleaseID, ev.UPC, ev.Title, ev.Artist.ID, ev.Artist.Name, ev.Label, seq)
	if err != nil {
		return false, fmt.Errorf("upsert release %d: %w", ev.ReleaseID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	n := len(ev.Tracks)
	ids, isrcs, titles, artistIDs, artistNames := make([]int64, n), make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
	durations, discs, numbers := make([]int32, n), make([]int32, n), make([]int32, n)
	for i, t := range ev.Tracks {
		ids[i], isrcs[i], titles[i], artistIDs[i], artistNames[i] = t.TrackID, t.ISRC, t.Title, t.Artist.ID, t.Artist.Name
		durations[i], discs[i], numbers[i] = int32(t.DurationSeconds), int32(t.Disc), int32(t.Number)
	}
	m := len(ev.Availability)
	terrs, dl, st := make([]string, m), make([]*time.Time, m), make([]*time.Time, m)
	for i, a := range ev.Availability {
		terrs[i], dl[i], st[i] = a.Territory, a.DownloadFrom, a.StreamingFrom
	}
	b := &pgx.Batch{}
	b.Queue(`delete from td_tracks where release_id = $1 and track_id <> all($2)`, ev.ReleaseID, ids)
	b.Queue(`
		insert into td_tracks (track_id, release_id, isrc, title, artist_id, artist_name, duration_s, disc, number)
		select * from unnest($1::bigint[], array_fill($2::bigint, array[cardinality($1::bigint[])]), $3::text[], $4::text[],
		                     $5::bigint[], $6::text[], $7::int[], $8::int[], $9::int[])
		on conflict (track_id) do update
		set release_id = excluded.release_id, isrc = excluded.isrc, title = excluded.title, artist_id = excluded.artist_id,
		    artist_name = excluded.artist_name, duration_s = excluded.duration_s, disc = excluded.disc, number = excluded.number`,
		ids, ev.ReleaseID, isrcs, titles, artistIDs, artistNames, durations, discs, numbers)
	b.Queue(`delete from td_availability where release_id = $1`, ev.ReleaseID)
	b.Queue(`
		insert into td_availability (release_id, territory, download_from, streaming_from)
		select $1, * from unnest($2::text[], $3::timestamptz[], $4::timestamptz[])`,
		ev.ReleaseID, terrs, dl, st)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return false, fmt.Errorf("replace rows of release %d: %w", ev.ReleaseID, err)
	}
	return true, nil
}

// Track implements the API's track reader: the track with id in territory.
// It returns catalogue.ErrTrackNotFound for an unknown id.
func (s *TrackDetails) Track(ctx context.Context, id int64, territory string) (catalogue.Track, error) {
	var t catalogue.Track
	err := s.pool.QueryRow(ctx, `
		select t.track_id, t.isrc, t.title, t.artist_id, t.artist_name, t.duration_s, t.disc, t.number,
		       r.release_id, r.upc, r.title, r.artist_id, r.artist_name, r.label, r.version,
		       a.download_from, a.streaming_from
		from td_tracks t
		join td_releases r on r.release_id = t.release_id
		left join td_availability a on a.release_id = t.release_id and a.territory = $2
		where t.track_id = $1`, id, territory).Scan(
		&t.ID, &t.ISRC, &t.Title, &t.Artist.ID, &t.Artist.Name, &t.DurationSeconds, &t.Disc, &t.Number,
		&t.Release.ID, &t.Release.UPC, &t.Release.Title, &t.Release.Artist.ID, &t.Release.Artist.Name, &t.Release.Label, &t.Release.Version,
		&t.DownloadFrom, &t.StreamingFrom)
	if errors.Is(err, pgx.ErrNoRows) {
		return catalogue.Track{}, fmt.Errorf("track %d: %w", id, catalogue.ErrTrackNotFound)
	}
	if err != nil {
		return catalogue.Track{}, fmt.Errorf("read track %d: %w", id, err)
	}
	t.Territory = territory
	for _, p := range []**time.Time{&t.DownloadFrom, &t.StreamingFrom} {
		if *p != nil {
			u := (*p).UTC()
			*p = &u
		}
	}
	return t, nil
}

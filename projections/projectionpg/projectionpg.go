// Package projectionpg stores catalog's read models in PostgreSQL: the
// track-details tables, the projections' checkpoints (consumed offsets),
// and the queries the APIs run against them.
package projectionpg

import (
	"context"
	"embed"
	"encoding/json"
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
func (s *TrackDetails) Apply(ctx context.Context, cp projections.Checkpoint, changes []projections.Change) (res projections.ApplyResult, err error) {
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
		applied, err := apply(ctx, tx, c)
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

func releaseID(ev any) int64 {
	switch v := ev.(type) {
	case release.Delivered:
		return v.ReleaseID
	case release.MetadataChanged:
		return v.ReleaseID
	case release.TracksChanged:
		return v.ReleaseID
	case release.DealsReplaced:
		return v.ReleaseID
	case release.TakenDown:
		return v.ReleaseID
	case release.Purged:
		return v.ReleaseID
	}
	return 0
}

// apply applies one event unless the release row already reflects its
// sequence number or a later one. Every event moves the row's version.
func apply(ctx context.Context, tx pgx.Tx, c projections.Change) (bool, error) {
	id := releaseID(c.Event)
	var version int64
	var dealsJSON []byte
	err := tx.QueryRow(ctx, `select version, deals from td_releases where release_id = $1 for update`, id).Scan(&version, &dealsJSON)
	exists := err == nil
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("read release %d: %w", id, err)
	}
	if exists && version >= c.Sequence {
		return false, nil
	}
	if _, isFirst := c.Event.(release.Delivered); !exists && !isFirst {
		// Only a first delivery can create the row; anything else for an
		// unknown release cannot be placed and is counted as stale.
		return false, nil
	}
	var deals []release.Deal
	if exists {
		if err := json.Unmarshal(dealsJSON, &deals); err != nil {
			return false, fmt.Errorf("deals of release %d: %w", id, err)
		}
	}
	switch ev := c.Event.(type) {
	case release.Delivered:
		if err := upsertRelease(ctx, tx, id, c.Sequence, ev.Metadata, ev.ArtistID, ev.Deals); err != nil {
			return false, err
		}
		if err := replaceTracks(ctx, tx, id, ev.Tracks); err != nil {
			return false, err
		}
		return true, replaceAvailability(ctx, tx, id, ev.Deals)
	case release.MetadataChanged:
		return true, upsertRelease(ctx, tx, id, c.Sequence, ev.Metadata, ev.ArtistID, deals)
	case release.TracksChanged:
		if err := setVersion(ctx, tx, id, c.Sequence, nil); err != nil {
			return false, err
		}
		if err := replaceTracks(ctx, tx, id, ev.Tracks); err != nil {
			return false, err
		}
		return true, replaceAvailability(ctx, tx, id, deals)
	case release.DealsReplaced:
		if err := setVersion(ctx, tx, id, c.Sequence, ev.Deals); err != nil {
			return false, err
		}
		return true, replaceAvailability(ctx, tx, id, ev.Deals)
	case release.TakenDown:
		if err := setVersion(ctx, tx, id, c.Sequence, ev.Deals); err != nil {
			return false, err
		}
		return true, replaceAvailability(ctx, tx, id, ev.Deals)
	case release.Purged:
		if _, err := tx.Exec(ctx, `delete from td_tracks where release_id = $1`, id); err != nil {
			return false, fmt.Errorf("purge release %d: %w", id, err)
		}
		_, err := tx.Exec(ctx, `update td_releases set purged = true, deals = '[]', version = $2, updated_at = now() where release_id = $1`, id, c.Sequence)
		if err != nil {
			return false, fmt.Errorf("purge release %d: %w", id, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("release %d: unexpected event %T", id, c.Event)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func upsertRelease(ctx context.Context, tx pgx.Tx, id, seq int64, m release.Metadata, artistID int64, deals []release.Deal) error {
	if deals == nil {
		deals = []release.Deal{}
	}
	dj, err := json.Marshal(deals)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
		insert into td_releases (release_id, upc, grid, catalog_number, title, version_title, release_type, artist_id, artist_name,
		                         label, pline, cline, genre, parental_warning, release_date, deals, purged, version)
		values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, false, $17)
		on conflict (release_id) do update
		set upc = excluded.upc, grid = excluded.grid, catalog_number = excluded.catalog_number, title = excluded.title,
		    version_title = excluded.version_title, release_type = excluded.release_type, artist_id = excluded.artist_id,
		    artist_name = excluded.artist_name, label = excluded.label, pline = excluded.pline, cline = excluded.cline,
		    genre = excluded.genre, parental_warning = excluded.parental_warning, release_date = excluded.release_date,
		    deals = excluded.deals, purged = false, version = excluded.version, updated_at = now()`,
		id, nullable(m.UPC), nullable(m.GRid), m.CatalogNumber, m.Title, m.Version, m.Type, artistID, m.Artist,
		m.Label, m.PLine, m.CLine, m.Genre, m.ParentalWarning, m.ReleaseDate, dj, seq)
	if err != nil {
		return fmt.Errorf("upsert release %d: %w", id, err)
	}
	return nil
}

// setVersion moves the row to seq and, when deals is not nil, replaces them.
func setVersion(ctx context.Context, tx pgx.Tx, id, seq int64, deals []release.Deal) error {
	var err error
	if deals == nil {
		_, err = tx.Exec(ctx, `update td_releases set version = $2, updated_at = now() where release_id = $1`, id, seq)
	} else {
		var dj []byte
		if dj, err = json.Marshal(deals); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `update td_releases set version = $2, deals = $3, updated_at = now() where release_id = $1`, id, seq, dj)
	}
	if err != nil {
		return fmt.Errorf("update release %d: %w", id, err)
	}
	return nil
}

func replaceTracks(ctx context.Context, tx pgx.Tx, id int64, tracks []release.TrackInfo) error {
	n := len(tracks)
	ids, isrcs, titles, versions, artistIDs, artistNames := make([]int64, n), make([]string, n), make([]string, n), make([]string, n), make([]int64, n), make([]string, n)
	durations, discs, numbers, plines, warnings := make([]int32, n), make([]int32, n), make([]int32, n), make([]string, n), make([]string, n)
	for i, t := range tracks {
		ids[i], isrcs[i], titles[i], versions[i], artistIDs[i], artistNames[i] = t.TrackID, t.ISRC, t.Title, t.Version, t.ArtistID, t.Artist
		durations[i], discs[i], numbers[i], plines[i], warnings[i] = int32(t.DurationSeconds), int32(t.Disc), int32(t.Number), t.PLine, t.ParentalWarning
	}
	b := &pgx.Batch{}
	b.Queue(`delete from td_tracks where release_id = $1 and track_id <> all($2)`, id, ids)
	b.Queue(`
		insert into td_tracks (track_id, release_id, isrc, title, version_title, artist_id, artist_name, duration_s, disc, number, pline, parental_warning)
		select t.id, $2, t.isrc, t.title, t.version, t.artist_id, t.artist, t.duration, t.disc, t.number, t.pline, t.warning
		from unnest($1::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::int[], $9::int[], $10::int[], $11::text[], $12::text[])
		     as t(id, isrc, title, version, artist_id, artist, duration, disc, number, pline, warning)
		on conflict (track_id) do update
		set release_id = excluded.release_id, isrc = excluded.isrc, title = excluded.title, version_title = excluded.version_title,
		    artist_id = excluded.artist_id, artist_name = excluded.artist_name, duration_s = excluded.duration_s, disc = excluded.disc,
		    number = excluded.number, pline = excluded.pline, parental_warning = excluded.parental_warning`,
		ids, id, isrcs, titles, versions, artistIDs, artistNames, durations, discs, numbers, plines, warnings)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("replace tracks of release %d: %w", id, err)
	}
	return nil
}

// replaceAvailability derives the availability rows of every track of the
// release from its deal set.
func replaceAvailability(ctx context.Context, tx pgx.Tx, id int64, deals []release.Deal) error {
	rows, err := tx.Query(ctx, `select track_id, isrc from td_tracks where release_id = $1`, id)
	if err != nil {
		return fmt.Errorf("tracks of release %d: %w", id, err)
	}
	type trk struct {
		id   int64
		isrc string
	}
	var tracks []trk
	var t trk
	if _, err := pgx.ForEachRow(rows, []any{&t.id, &t.isrc}, func() error { tracks = append(tracks, t); return nil }); err != nil {
		return fmt.Errorf("tracks of release %d: %w", id, err)
	}
	var (
		trackIDs              []int64
		territories, usages   []string
		froms, tos            []*time.Time
		amounts, currs, codes []*string
	)
	for _, t := range tracks {
		for _, w := range release.TrackWindows(deals, t.isrc) {
			trackIDs, territories, usages = append(trackIDs, t.id), append(territories, w.Territory), append(usages, string(w.Usage))
			froms, tos = append(froms, w.From), append(tos, w.To)
			var a, c, k *string
			if w.Price != nil {
				a, c, k = nullable(w.Price.Amount), nullable(w.Price.Currency), nullable(w.Price.Code)
			}
			amounts, currs, codes = append(amounts, a), append(currs, c), append(codes, k)
		}
	}
	b := &pgx.Batch{}
	b.Queue(`delete from td_availability where track_id in (select track_id from td_tracks where release_id = $1)`, id)
	if len(trackIDs) > 0 {
		b.Queue(`
			insert into td_availability (track_id, territory, usage, available_from, available_to, price_amount, price_currency, price_code)
			select * from unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[], $7::text[], $8::text[])`,
			trackIDs, territories, usages, froms, tos, amounts, currs, codes)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("availability of release %d: %w", id, err)
	}
	return nil
}

// Track implements the API's track reader: the track with id, and its
// offers in territory that have not ended by now. It returns
// catalogue.ErrTrackNotFound for an unknown (or purged) id.
func (s *TrackDetails) Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error) {
	var t catalogue.Track
	var upc, grid *string
	b := &pgx.Batch{}
	b.Queue(`
		select t.track_id, t.isrc, t.title, t.version_title, t.artist_id, t.artist_name, t.duration_s, t.disc, t.number, t.pline, t.parental_warning,
		       r.release_id, r.upc, r.grid, r.catalog_number, r.title, r.version_title, r.release_type, r.artist_id, r.artist_name,
		       r.label, r.pline, r.release_date, r.version
		from td_tracks t join td_releases r on r.release_id = t.release_id
		where t.track_id = $1 and not r.purged`, id).QueryRow(func(row pgx.Row) error {
		return row.Scan(&t.ID, &t.ISRC, &t.Title, &t.Version, &t.Artist.ID, &t.Artist.Name, &t.DurationSeconds, &t.Disc, &t.Number, &t.PLine, &t.ParentalWarning,
			&t.Release.ID, &upc, &grid, &t.Release.CatalogNumber, &t.Release.Title, &t.Release.Version, &t.Release.Type, &t.Release.Artist.ID,
			&t.Release.Artist.Name, &t.Release.Label, &t.Release.PLine, &t.Release.ReleaseDate, &t.Release.Sequence)
	})
	b.Queue(`
		select usage, available_from, available_to, price_amount, price_currency, price_code
		from td_availability where track_id = $1 and territory = $2 and (available_to is null or available_to > $3)`,
		id, territory, now).Query(func(rows pgx.Rows) error {
		var usage string
		var from, to *time.Time
		var amount, currency, code *string
		_, err := pgx.ForEachRow(rows, []any{&usage, &from, &to, &amount, &currency, &code}, func() error {
			o := &catalogue.Offer{From: utc(from), To: utc(to)}
			if amount != nil || code != nil {
				o.Price = &catalogue.Price{Amount: deref(amount), Currency: deref(currency), Code: deref(code)}
			}
			switch release.Usage(usage) {
			case release.UsageDownload:
				t.Download = o
			case release.UsageSubscription:
				t.Subscription = o
			case release.UsageAdSupported:
				t.AdSupported = o
			}
			return nil
		})
		return err
	})
	err := s.pool.SendBatch(ctx, b).Close()
	if errors.Is(err, pgx.ErrNoRows) {
		return catalogue.Track{}, fmt.Errorf("track %d: %w", id, catalogue.ErrTrackNotFound)
	}
	if err != nil {
		return catalogue.Track{}, fmt.Errorf("read track %d: %w", id, err)
	}
	t.Release.UPC, t.Release.GRid, t.Territory = deref(upc), deref(grid), territory
	return t, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

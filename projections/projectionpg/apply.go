package projectionpg

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// Writer applies events to one generation of a read model. It
// implements projections.TrackDetailsStore and events.OffsetStore.
type Writer struct {
	pool  *pgxpool.Pool
	name  string
	model Model
	gen   int
}

// Writer returns the writer of generation gen.
func (s *Store) Writer(gen int) *Writer {
	return &Writer{pool: s.pool, name: s.name, model: s.model, gen: gen}
}

// Generation returns the generation the writer writes.
func (w *Writer) Generation() int { return w.gen }

// StoredOffsets implements events.OffsetStore.
func (w *Writer) StoredOffsets(ctx context.Context, topic string) (map[int32]int64, error) {
	rows, err := w.pool.Query(ctx, `select partition, next_offset from projection_checkpoints
		where projection = $1 and generation = $2 and topic = $3`, w.name, w.gen, topic)
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

// releaseRow is a release's rows in memory while a batch folds its events
// (the pure fold's state).
type releaseRow = trackdetails.Release

// Apply implements projections.TrackDetailsStore: it loads the rows of the
// batch's releases, folds the events into them in order (each guarded by
// the release's version), writes every changed release with one upsert
// per table, and stores the checkpoint and, for the live generation, the
// cache invalidation the batch owes (see invalidations.go), in one
// transaction. An error a retry can cure wraps projections.ErrTransient.
func (w *Writer) Apply(ctx context.Context, cp projections.Checkpoint, items []projections.Item) (res projections.ApplyResult, err error) {
	defer func() { err = classify(err) }()
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return res, fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback(ctx)
		}
	}()
	// First, before any other lock: a swap waits for this batch, so a
	// generation swapped in has no batch in flight that skipped its
	// invalidations.
	live, err := w.isLive(ctx, tx)
	if err != nil {
		return res, err
	}

	res, err = w.applyIn(ctx, tx, items)
	if err != nil {
		return res, err
	}
	if live && len(res.Changed) > 0 {
		if res.Pending, err = w.storeInvalidation(ctx, tx, res.Changed); err != nil {
			return res, err
		}
	}
	_, err = tx.Exec(ctx, `
		insert into projection_checkpoints (projection, generation, topic, partition, next_offset, stale, applied)
		values ($1, $2, $3, $4, $5, $6, $7)
		on conflict (projection, generation, topic, partition) do update
		set next_offset = excluded.next_offset, stale = projection_checkpoints.stale + excluded.stale,
		    applied = projection_checkpoints.applied + excluded.applied, updated_at = now()`,
		w.name, w.gen, cp.Topic, cp.Partition, cp.NextOffset, res.Stale, res.Applied)
	if err != nil {
		return res, fmt.Errorf("store checkpoint: %w", err)
	}
	if err = tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// applyIn parks the items that cannot be applied (poison, invalid for the
// model, or behind a parked event of their stream) and has the model apply
// the others, in order, inside tx.
func (w *Writer) applyIn(ctx context.Context, tx pgx.Tx, items []projections.Item) (res projections.ApplyResult, err error) {
	keys := map[string]bool{}
	for _, it := range items {
		keys[it.Key] = true
	}
	parkedKeys, err := w.parkedKeys(ctx, tx, keys)
	if err != nil {
		return res, err
	}
	var parkedIDs = map[string]int64{}
	var changes []projections.Change
	parked := 0
	for _, it := range items {
		reason := it.Poison
		if reason == "" && parkedKeys[it.Key] {
			reason = "waiting behind an earlier parked event of this release"
		}
		if reason == "" && it.Change != nil {
			reason = w.model.Validate(*it.Change)
		}
		if reason != "" {
			id, err := w.park(ctx, tx, it, reason, parkedIDs[it.Key])
			if err != nil {
				return res, err
			}
			parkedKeys[it.Key], parkedIDs[it.Key] = true, id
			parked++
			continue
		}
		if it.Skip || it.Change == nil {
			continue
		}
		changes = append(changes, *it.Change)
	}
	res, err = w.model.Apply(ctx, tx, w.gen, changes)
	res.Parked += parked
	return res, err
}

// Apply implements Model: it loads the rows of the changes' releases,
// folds the changes into them (trackdetails.Fold) and writes every changed
// release with one upsert per table.
func (trackDetailsModel) Apply(ctx context.Context, tx pgx.Tx, gen int, changes []projections.Change) (res projections.ApplyResult, err error) {
	res.Changed = map[int64]projections.ReleaseVersion{}
	ids := map[int64]bool{}
	for _, c := range changes {
		ids[trackdetails.ReleaseOf(c.Event)] = true
	}
	rows, err := load(ctx, tx, gen, ids)
	if err != nil {
		return res, err
	}
	for _, c := range changes {
		if trackdetails.Fold(rows, c) {
			res.Applied++
		} else {
			res.Stale++
		}
	}
	return res, write(ctx, tx, gen, rows, res.Changed)
}

func load(ctx context.Context, tx pgx.Tx, gen int, ids map[int64]bool) (map[int64]*releaseRow, error) {
	rows := map[int64]*releaseRow{}
	if len(ids) == 0 {
		return rows, nil
	}
	list := make([]int64, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	sc := schema(gen)
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf(`select release_id, upc, grid, catalog_number, title, version_title, release_type, artist_id, artist_name, label,
		pline, cline, genre, parental_warning, release_date, terms, track_terms, purged, version
		from %s.releases where release_id = any($1) for update`, sc), list).Query(func(q pgx.Rows) error {
		for q.Next() {
			r := &releaseRow{Exists: true}
			var id int64
			var upc, grid *string
			m := &r.Meta
			if err := q.Scan(&id, &upc, &grid, &m.CatalogNumber, &m.Title, &m.Version, &m.Type, &r.ArtistID, &m.Artist, &m.Label,
				&m.PLine, &m.CLine, &m.Genre, &m.ParentalWarning, &m.ReleaseDate, &r.Terms, &r.TrackTerms, &r.Purged, &r.Version); err != nil {
				return err
			}
			m.UPC, m.GRid = deref(upc), deref(grid)
			rows[id] = r
		}
		return q.Err()
	})
	b.Queue(fmt.Sprintf(`select release_id, track_id, isrc, title, version_title, artist_id, artist_name, duration_s, disc, number,
		pline, parental_warning from %s.tracks where release_id = any($1) order by release_id, disc, number`, sc), list).Query(func(q pgx.Rows) error {
		for q.Next() {
			var id int64
			var t release.TrackInfo
			if err := q.Scan(&id, &t.TrackID, &t.ISRC, &t.Title, &t.Version, &t.ArtistID, &t.Artist, &t.DurationSeconds, &t.Disc, &t.Number,
				&t.PLine, &t.ParentalWarning); err != nil {
				return err
			}
			if r := rows[id]; r != nil {
				r.Tracks = append(r.Tracks, t)
				r.Before = append(r.Before, t.TrackID)
			}
		}
		return q.Err()
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("load releases: %w", err)
	}
	return rows, nil
}

// write stores every changed release: one upsert of releases, one delete
// and one upsert of tracks, however many releases the batch touched.
func write(ctx context.Context, tx pgx.Tx, gen int, rows map[int64]*releaseRow, changed map[int64]projections.ReleaseVersion) error {
	var (
		relIDs, artistIDs, versions                                    []int64
		upcs, grids                                                    []*string
		catalogs, titles, vers, types, artists, labels, plines, clines []string
		genres, warnings, dates                                        []string
		terms, trackTerms                                              [][]byte
		purged                                                         []bool
		tracksOf                                                       []int64
		tID, tRel, tArtist, tVersion                                   []int64
		tISRC, tTitle, tVer, tArtistName, tPLine, tWarning             []string
		tDuration, tDisc, tNumber                                      []int32
		tTerms                                                         [][]byte
	)
	for id, r := range rows {
		if !r.Dirty {
			continue
		}
		tj, err := json.Marshal(nonNil(r.Terms))
		if err != nil {
			return err
		}
		if r.TrackTerms == nil {
			r.TrackTerms = map[string][]projections.Term{}
		}
		ttj, err := json.Marshal(r.TrackTerms)
		if err != nil {
			return err
		}
		m := r.Meta
		relIDs, artistIDs, versions = append(relIDs, id), append(artistIDs, r.ArtistID), append(versions, r.Version)
		upcs, grids = append(upcs, nullable(m.UPC)), append(grids, nullable(m.GRid))
		catalogs, titles, vers, types = append(catalogs, m.CatalogNumber), append(titles, m.Title), append(vers, m.Version), append(types, m.Type)
		artists, labels, plines, clines = append(artists, m.Artist), append(labels, m.Label), append(plines, m.PLine), append(clines, m.CLine)
		genres, warnings, dates = append(genres, m.Genre), append(warnings, m.ParentalWarning), append(dates, m.ReleaseDate)
		terms, trackTerms, purged = append(terms, tj), append(trackTerms, ttj), append(purged, r.Purged)

		// Every track row carries the release version it reflects; terms
		// changes reach tracks too, so all of the release's tracks are written.
		// Tracks it had before (removed, or purged) are invalidated as well.
		tracksOf = append(tracksOf, id)
		for _, t := range r.Before {
			changed[t] = projections.ReleaseVersion{Release: id, Version: r.Version}
		}
		for _, t := range r.Tracks {
			var own []byte
			if tt, ok := r.TrackTerms[t.ISRC]; ok {
				if own, err = json.Marshal(nonNil(tt)); err != nil {
					return err
				}
			}
			tID, tRel, tArtist, tVersion = append(tID, t.TrackID), append(tRel, id), append(tArtist, t.ArtistID), append(tVersion, r.Version)
			tISRC, tTitle, tVer, tArtistName = append(tISRC, t.ISRC), append(tTitle, t.Title), append(tVer, t.Version), append(tArtistName, t.Artist)
			tPLine, tWarning, tTerms = append(tPLine, t.PLine), append(tWarning, t.ParentalWarning), append(tTerms, own)
			tDuration, tDisc, tNumber = append(tDuration, int32(t.DurationSeconds)), append(tDisc, int32(t.Disc)), append(tNumber, int32(t.Number))
			changed[t.TrackID] = projections.ReleaseVersion{Release: id, Version: r.Version}
		}
	}
	if len(relIDs) == 0 {
		return nil
	}
	sc := schema(gen)
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf(`
		insert into %s.releases (release_id, upc, grid, catalog_number, title, version_title, release_type, artist_id, artist_name,
			label, pline, cline, genre, parental_warning, release_date, terms, track_terms, purged, version)
		select * from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[],
			$10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], $16::jsonb[], $17::jsonb[], $18::bool[], $19::bigint[])
		on conflict (release_id) do update set upc = excluded.upc, grid = excluded.grid, catalog_number = excluded.catalog_number,
			title = excluded.title, version_title = excluded.version_title, release_type = excluded.release_type,
			artist_id = excluded.artist_id, artist_name = excluded.artist_name, label = excluded.label, pline = excluded.pline,
			cline = excluded.cline, genre = excluded.genre, parental_warning = excluded.parental_warning,
			release_date = excluded.release_date, terms = excluded.terms, track_terms = excluded.track_terms,
			purged = excluded.purged, version = excluded.version`, sc),
		relIDs, upcs, grids, catalogs, titles, vers, types, artistIDs, artists, labels, plines, clines, genres, warnings, dates,
		terms, trackTerms, purged, versions)
	if tID == nil {
		// A nil slice is SQL NULL, and "<> all(NULL)" matches no row: a batch
		// of purges alone would keep their tracks.
		tID, tRel = []int64{}, []int64{}
	}
	// Rows are (track, release) pairs: a track id a legacy log put on two
	// releases of this batch is kept on one and removed from the other only
	// by its pair.
	b.Queue(fmt.Sprintf(`delete from %s.tracks t where t.release_id = any($1)
		and not exists (select 1 from unnest($2::bigint[], $3::bigint[]) as k(track_id, release_id)
			where k.track_id = t.track_id and k.release_id = t.release_id)`, sc), tracksOf, tID, tRel)
	if len(tID) > 0 {
		b.Queue(fmt.Sprintf(`
			insert into %s.tracks (track_id, release_id, isrc, title, version_title, artist_id, artist_name, duration_s, disc, number,
				pline, parental_warning, terms, version)
			select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::int[],
				$9::int[], $10::int[], $11::text[], $12::text[], $13::jsonb[], $14::bigint[])
			on conflict (track_id, release_id) do update set isrc = excluded.isrc, title = excluded.title,
				version_title = excluded.version_title, artist_id = excluded.artist_id, artist_name = excluded.artist_name,
				duration_s = excluded.duration_s, disc = excluded.disc, number = excluded.number, pline = excluded.pline,
				parental_warning = excluded.parental_warning, terms = excluded.terms, version = excluded.version`, sc),
			tID, tRel, tISRC, tTitle, tVer, tArtist, tArtistName, tDuration, tDisc, tNumber, tPLine, tWarning, tTerms, tVersion)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write releases: %w", err)
	}
	return nil
}

func nonNil(t []projections.Term) []projections.Term {
	if t == nil {
		return []projections.Term{}
	}
	return t
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

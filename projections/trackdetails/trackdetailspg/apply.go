package trackdetailspg

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// releaseRow is a release's rows in memory while a batch folds its events
// (the pure fold's state).
type releaseRow = trackdetails.Release

// Apply implements Model: it loads the rows of the changes' releases,
// folds the changes into them (trackdetails.Fold) and writes every changed
// release with one upsert per table.
func (Model) Apply(ctx context.Context, tx pgx.Tx, gen int, changes []projections.Change) (res projections.ApplyResult, err error) {
	res.Changed = map[int64]projections.ReleaseVersion{}
	ids := map[int64]bool{}
	for _, c := range changes {
		ids[c.Release()] = true
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
			r.TrackTerms = map[string][]trackdetails.Term{}
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

func nonNil(t []trackdetails.Term) []trackdetails.Term {
	if t == nil {
		return []trackdetails.Term{}
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

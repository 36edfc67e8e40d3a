package trackdetailspg

import (
	"context"
	"errors"
	"fmt"
	"slices"

	jsonv1 "github.com/go-json-experiment/json/v1"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// releaseRow is a release's rows in memory while a batch folds its events
// (the pure fold's state).
type releaseRow = trackdetails.Release

// Apply implements Model: it loads the rows of the changes' releases,
// folds the changes into them (trackdetails.Fold) and writes every changed
// release (write).
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
	// base is the version each stored release's rows had before the
	// batch: a track stamped later than that changed in the batch.
	base := make(map[int64]int64, len(rows))
	for id, r := range rows {
		base[id] = r.Version
	}
	for _, c := range changes {
		if trackdetails.Fold(rows, c) {
			res.Applied++
		} else {
			res.Stale++
		}
	}
	return res, write(ctx, tx, gen, rows, base, res.Changed)
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
		pline, parental_warning, version from %s.tracks where release_id = any($1) order by release_id, disc, number`, sc), list).Query(func(q pgx.Rows) error {
		for q.Next() {
			var id, version int64
			var t release.TrackInfo
			if err := q.Scan(&id, &t.TrackID, &t.ISRC, &t.Title, &t.Version, &t.ArtistID, &t.Artist, &t.DurationSeconds, &t.Disc, &t.Number,
				&t.PLine, &t.ParentalWarning, &version); err != nil {
				return err
			}
			if r := rows[id]; r != nil {
				r.Tracks, r.TrackVersions = append(r.Tracks, t), append(r.TrackVersions, version)
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

// columns are changed releases as the columns of their rows: one slice
// per column of releases and of tracks, the form both the upsert
// (unnest of arrays) and COPY take.
type columns struct {
	relIDs, artistIDs, versions                                    []int64
	upcs, grids                                                    []*string
	catalogs, titles, vers, types, artists, labels, plines, clines []string
	genres, warnings, dates                                        []string
	terms, trackTerms                                              [][]byte
	purged                                                         []bool
	tID, tRel, tArtist, tVersion                                   []int64
	tISRC, tTitle, tVer, tArtistName, tPLine, tWarning             []string
	tDuration, tDisc, tNumber                                      []int32
	tTerms                                                         [][]byte
	goneID, goneRel                                                []int64
	// whole lists releases whose every track row is written and whose
	// other rows, if any, go: new to the generation, their COPY met a row.
	whole []int64
}

// add appends release id's rows (its release row, the rows of its tracks
// the batch changed, the tracks it removed) and lists its tracks, those it
// has and those it had before the batch, in changed. base is the
// release's version before the batch (0 for one the generation had no row
// of).
func (c *columns) add(id int64, r *releaseRow, base int64, changed map[int64]projections.ReleaseVersion) error {
	// The terms are written as encoding/json writes them, by the json/v2
	// engine (jsonv1); a release with no track of its own terms, nearly
	// every one, writes {} without a marshal.
	tj, err := jsonv1.Marshal(nonNil(r.Terms))
	if err != nil {
		return err
	}
	if r.TrackTerms == nil {
		r.TrackTerms = map[string][]trackdetails.Term{}
	}
	ttj := []byte("{}")
	if len(r.TrackTerms) > 0 {
		if ttj, err = jsonv1.Marshal(r.TrackTerms); err != nil {
			return err
		}
	}
	m := r.Meta
	c.relIDs, c.artistIDs, c.versions = append(c.relIDs, id), append(c.artistIDs, r.ArtistID), append(c.versions, r.Version)
	c.upcs, c.grids = append(c.upcs, nullable(m.UPC)), append(c.grids, nullable(m.GRid))
	c.catalogs, c.titles, c.vers, c.types = append(c.catalogs, m.CatalogNumber), append(c.titles, m.Title), append(c.vers, m.Version), append(c.types, m.Type)
	c.artists, c.labels, c.plines, c.clines = append(c.artists, m.Artist), append(c.labels, m.Label), append(c.plines, m.PLine), append(c.clines, m.CLine)
	c.genres, c.warnings, c.dates = append(c.genres, m.Genre), append(c.warnings, m.ParentalWarning), append(c.dates, m.ReleaseDate)
	c.terms, c.trackTerms, c.purged = append(c.terms, tj), append(c.trackTerms, ttj), append(c.purged, r.Purged)

	// Every track of the release, and every one it had before (removed, or
	// purged), is invalidated: a track's answer carries its release. Only
	// the rows the batch changed are written (a track stamped after base,
	// the release's version before the batch, trackdetails.Release's
	// TrackVersions), and the rows of tracks it no longer has deleted.
	for _, t := range r.Before {
		changed[t] = projections.ReleaseVersion{Release: id, Version: r.Version}
	}
	if r.TracksSet && len(r.Before) > 0 {
		kept := make(map[int64]bool, len(r.Tracks))
		for _, t := range r.Tracks {
			kept[t.TrackID] = true
		}
		for _, t := range r.Before {
			if !kept[t] {
				c.goneID, c.goneRel = append(c.goneID, t), append(c.goneRel, id)
			}
		}
	}
	for i, t := range r.Tracks {
		changed[t.TrackID] = projections.ReleaseVersion{Release: id, Version: r.Version}
		version := r.Version
		if i < len(r.TrackVersions) {
			version = r.TrackVersions[i]
		}
		if version <= base {
			continue
		}
		var own []byte
		if tt, ok := r.TrackTerms[t.ISRC]; ok {
			if own, err = jsonv1.Marshal(nonNil(tt)); err != nil {
				return err
			}
		}
		c.tID, c.tRel, c.tArtist, c.tVersion = append(c.tID, t.TrackID), append(c.tRel, id), append(c.tArtist, t.ArtistID), append(c.tVersion, version)
		c.tISRC, c.tTitle, c.tVer, c.tArtistName = append(c.tISRC, t.ISRC), append(c.tTitle, t.Title), append(c.tVer, t.Version), append(c.tArtistName, t.Artist)
		c.tPLine, c.tWarning, c.tTerms = append(c.tPLine, t.PLine), append(c.tWarning, t.ParentalWarning), append(c.tTerms, own)
		c.tDuration, c.tDisc, c.tNumber = append(c.tDuration, int32(t.DurationSeconds)), append(c.tDisc, int32(t.Disc)), append(c.tNumber, int32(t.Number))
	}
	return nil
}

// write stores every changed release. Releases the generation had no row
// of before the batch (every one, in a rebuild's bulk load) are loaded
// with one COPY per table; the others with one upsert of releases, one
// delete and one upsert of tracks, however many releases the batch
// touched. A COPY that meets a row after all (one written since load read
// the table) is rolled back to its savepoint, and its releases are
// upserted with the others.
func write(ctx context.Context, tx pgx.Tx, gen int, rows map[int64]*releaseRow, base map[int64]int64, changed map[int64]projections.ReleaseVersion) error {
	var upsert, fresh columns
	// Each column is sized once for the batch's rows (a rebuild's batch
	// is hundreds of releases, thousands of tracks) instead of grown by
	// copying as they are added.
	var n [2]struct{ releases, tracks int }
	for id, r := range rows {
		if r.Dirty {
			k := 0
			if _, stored := base[id]; !stored {
				k = 1
			}
			n[k].releases++
			n[k].tracks += len(r.Tracks)
		}
	}
	upsert.grow(n[0].releases, n[0].tracks)
	fresh.grow(n[1].releases, n[1].tracks)
	for id, r := range rows {
		if !r.Dirty {
			continue
		}
		c := &upsert
		if _, stored := base[id]; !stored {
			c = &fresh
		}
		if err := c.add(id, r, base[id], changed); err != nil {
			return err
		}
	}
	if len(fresh.relIDs) > 0 {
		copied, err := copyFresh(ctx, tx, gen, &fresh)
		if err != nil {
			return err
		}
		if !copied {
			upsert.whole = append(upsert.whole, fresh.relIDs...)
			upsert.append(&fresh)
		}
	}
	return upsertRows(ctx, tx, gen, &upsert)
}

// grow makes room in c for the rows of releases releases and tracks
// tracks.
func (c *columns) grow(releases, tracks int) {
	if releases == 0 {
		return
	}
	for _, col := range []*[]int64{&c.relIDs, &c.artistIDs, &c.versions} {
		*col = slices.Grow(*col, releases)
	}
	c.upcs, c.grids = slices.Grow(c.upcs, releases), slices.Grow(c.grids, releases)
	for _, col := range []*[]string{&c.catalogs, &c.titles, &c.vers, &c.types, &c.artists, &c.labels, &c.plines, &c.clines, &c.genres, &c.warnings, &c.dates} {
		*col = slices.Grow(*col, releases)
	}
	c.terms, c.trackTerms, c.purged = slices.Grow(c.terms, releases), slices.Grow(c.trackTerms, releases), slices.Grow(c.purged, releases)
	if tracks == 0 {
		return
	}
	for _, col := range []*[]int64{&c.tID, &c.tRel, &c.tArtist, &c.tVersion} {
		*col = slices.Grow(*col, tracks)
	}
	for _, col := range []*[]string{&c.tISRC, &c.tTitle, &c.tVer, &c.tArtistName, &c.tPLine, &c.tWarning} {
		*col = slices.Grow(*col, tracks)
	}
	for _, col := range []*[]int32{&c.tDuration, &c.tDisc, &c.tNumber} {
		*col = slices.Grow(*col, tracks)
	}
	c.tTerms = slices.Grow(c.tTerms, tracks)
}

// append adds o's rows to c's.
func (c *columns) append(o *columns) {
	c.relIDs, c.artistIDs, c.versions = append(c.relIDs, o.relIDs...), append(c.artistIDs, o.artistIDs...), append(c.versions, o.versions...)
	c.upcs, c.grids = append(c.upcs, o.upcs...), append(c.grids, o.grids...)
	c.catalogs, c.titles, c.vers, c.types = append(c.catalogs, o.catalogs...), append(c.titles, o.titles...), append(c.vers, o.vers...), append(c.types, o.types...)
	c.artists, c.labels, c.plines, c.clines = append(c.artists, o.artists...), append(c.labels, o.labels...), append(c.plines, o.plines...), append(c.clines, o.clines...)
	c.genres, c.warnings, c.dates = append(c.genres, o.genres...), append(c.warnings, o.warnings...), append(c.dates, o.dates...)
	c.terms, c.trackTerms, c.purged = append(c.terms, o.terms...), append(c.trackTerms, o.trackTerms...), append(c.purged, o.purged...)
	c.tID, c.tRel, c.tArtist, c.tVersion = append(c.tID, o.tID...), append(c.tRel, o.tRel...), append(c.tArtist, o.tArtist...), append(c.tVersion, o.tVersion...)
	c.tISRC, c.tTitle, c.tVer, c.tArtistName = append(c.tISRC, o.tISRC...), append(c.tTitle, o.tTitle...), append(c.tVer, o.tVer...), append(c.tArtistName, o.tArtistName...)
	c.tPLine, c.tWarning, c.tTerms = append(c.tPLine, o.tPLine...), append(c.tWarning, o.tWarning...), append(c.tTerms, o.tTerms...)
	c.tDuration, c.tDisc, c.tNumber = append(c.tDuration, o.tDuration...), append(c.tDisc, o.tDisc...), append(c.tNumber, o.tNumber...)
	c.goneID, c.goneRel = append(c.goneID, o.goneID...), append(c.goneRel, o.goneRel...)
}

var (
	releaseCopyColumns = []string{"release_id", "upc", "grid", "catalog_number", "title", "version_title", "release_type", "artist_id", "artist_name",
		"label", "pline", "cline", "genre", "parental_warning", "release_date", "terms", "track_terms", "purged", "version"}
	trackCopyColumns = []string{"track_id", "release_id", "isrc", "title", "version_title", "artist_id", "artist_name", "duration_s", "disc", "number",
		"pline", "parental_warning", "terms", "version"}
)

// copyFresh writes the rows of releases new to the generation with COPY,
// inside a savepoint. copied is false when a row was there after all (a
// unique violation): the savepoint is rolled back and nothing is written.
func copyFresh(ctx context.Context, tx pgx.Tx, gen int, c *columns) (copied bool, err error) {
	if _, err := tx.Exec(ctx, "savepoint fresh_releases"); err != nil {
		return false, fmt.Errorf("copy releases: %w", err)
	}
	sc := schema(gen)
	row := make([]any, len(releaseCopyColumns))
	_, err = tx.CopyFrom(ctx, pgx.Identifier{sc, "releases"}, releaseCopyColumns, pgx.CopyFromSlice(len(c.relIDs), func(i int) ([]any, error) {
		row[0], row[1], row[2], row[3], row[4], row[5], row[6] = c.relIDs[i], c.upcs[i], c.grids[i], c.catalogs[i], c.titles[i], c.vers[i], c.types[i]
		row[7], row[8], row[9], row[10], row[11], row[12] = c.artistIDs[i], c.artists[i], c.labels[i], c.plines[i], c.clines[i], c.genres[i]
		row[13], row[14], row[15], row[16], row[17], row[18] = c.warnings[i], c.dates[i], c.terms[i], c.trackTerms[i], c.purged[i], c.versions[i]
		return row, nil
	}))
	if err == nil && len(c.tID) > 0 {
		row = make([]any, len(trackCopyColumns))
		_, err = tx.CopyFrom(ctx, pgx.Identifier{sc, "tracks"}, trackCopyColumns, pgx.CopyFromSlice(len(c.tID), func(i int) ([]any, error) {
			row[0], row[1], row[2], row[3], row[4], row[5], row[6] = c.tID[i], c.tRel[i], c.tISRC[i], c.tTitle[i], c.tVer[i], c.tArtist[i], c.tArtistName[i]
			row[7], row[8], row[9], row[10], row[11], row[12], row[13] = c.tDuration[i], c.tDisc[i], c.tNumber[i], c.tPLine[i], c.tWarning[i], c.tTerms[i], c.tVersion[i]
			return row, nil
		}))
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" /* unique_violation */ {
		if _, err := tx.Exec(ctx, "rollback to savepoint fresh_releases"); err != nil {
			return false, fmt.Errorf("copy releases: %w", err)
		}
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("copy releases: %w", err)
	}
	return true, nil
}

// upsertRows writes releases the generation may have rows of: one upsert
// of releases, one delete of the tracks they no longer have and one upsert
// of the tracks the batch changed.
func upsertRows(ctx context.Context, tx pgx.Tx, gen int, c *columns) error {
	if len(c.relIDs) == 0 {
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
		c.relIDs, c.upcs, c.grids, c.catalogs, c.titles, c.vers, c.types, c.artistIDs, c.artists, c.labels, c.plines, c.clines, c.genres,
		c.warnings, c.dates, c.terms, c.trackTerms, c.purged, c.versions)
	// Rows are (track, release) pairs: a track id a legacy log put on two
	// releases of this batch is removed from one only by its pair.
	if len(c.goneID) > 0 {
		// The release ids lead the plan to their rows by index whatever the
		// planner thinks of the list's length (a purge's batch lists
		// thousands).
		b.Queue(fmt.Sprintf(`delete from %s.tracks t where t.release_id = any($3)
			and (t.track_id, t.release_id) in (select * from unnest($1::bigint[], $2::bigint[]))`, sc), c.goneID, c.goneRel, c.goneRel)
	}
	tID, tRel := c.tID, c.tRel
	if len(c.whole) > 0 {
		b.Queue(fmt.Sprintf(`delete from %s.tracks t where t.release_id = any($1)
			and not exists (select 1 from unnest($2::bigint[], $3::bigint[]) as k(track_id, release_id)
				where k.track_id = t.track_id and k.release_id = t.release_id)`, sc), c.whole, tID, tRel)
	}
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
			tID, tRel, c.tISRC, c.tTitle, c.tVer, c.tArtist, c.tArtistName, c.tDuration, c.tDisc, c.tNumber, c.tPLine, c.tWarning, c.tTerms, c.tVersion)
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

// Package identifierspg stores the identifiers read model in PostgreSQL:
// a generation's tables in schema idf_g<N> (releases, tracks, parties),
// the stable views idf.releases, idf.tracks and idf.parties on the live
// one, the writes of the pure fold (projections/identifiers) and the
// partner look-ups. Generations, checkpoints, parking and rebuilds are the
// shared machinery's (projectionpg.Store) under the name "identifiers".
package identifierspg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/identifiers"
	"github.com/catalog-org/catalog/projections/projectionpg"
)

// Store is the identifiers read model: the shared generation machinery on
// its tables, and its readers.
type Store struct {
	*projectionpg.Store
	pool *pgxpool.Pool
}

// New returns the identifiers store on pool. Run projectionpg.Migrate
// first (it creates the machinery's bookkeeping tables).
func New(pool *pgxpool.Pool) (*Store, error) {
	s, err := projectionpg.NewStore(pool, identifiers.Name, Model{})
	if err != nil {
		return nil, err
	}
	return &Store{Store: s, pool: pool}, nil
}

// Model is the identifiers projection's projectionpg.Model: schemas
// idf_g<N>, the stable views in schema idf, and the fold's rows.
type Model struct{}

func schema(gen int) string { return fmt.Sprintf("idf_g%d", gen) }

// Schema implements projectionpg.Model.
func (Model) Schema(gen int) string { return schema(gen) }

// Create implements projectionpg.Model. Writes find a release's tracks
// and parties by release_id, so those keys exist from the start; the
// look-up indexes (ISRC, GTIN, GRid) come after a rebuild's bulk load.
func (Model) Create(ctx context.Context, tx pgx.Tx, gen int, withIndexes bool) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		create schema %[1]s;
		create table %[1]s.releases (
			release_id    bigint primary key,
			upc           text,
			gtin          text,
			grid          text,
			title         text not null default '',
			version_title text not null default '',
			release_type  text not null default '',
			artist_name   text not null default '',
			label         text not null default '',
			release_date  text not null default '',
			owners        text[] not null default '{}',
			purged        boolean not null default false,
			version       bigint not null
		);
		create table %[1]s.tracks (
			release_id    bigint not null,
			track_id      bigint not null,
			isrc          text not null,
			title         text not null default '',
			version_title text not null default '',
			artist_name   text not null default '',
			duration_s    integer not null default 0,
			disc          integer not null default 0,
			number        integer not null default 0,
			primary key (release_id, track_id)
		);
		-- A party's releases in release id order: the primary key is the
		-- paging index.
		create table %[1]s.parties (
			party      text not null,
			release_id bigint not null,
			primary key (party, release_id)
		);
		create index parties_release on %[1]s.parties (release_id);`, schema(gen)))
	if err != nil {
		return fmt.Errorf("create identifiers generation %d: %w", gen, err)
	}
	if withIndexes {
		return Model{}.BuildIndexes(ctx, tx, gen)
	}
	return nil
}

// BuildIndexes implements projectionpg.Model.
func (Model) BuildIndexes(ctx context.Context, tx pgx.Tx, gen int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		create index if not exists tracks_isrc on %[1]s.tracks (isrc);
		create index if not exists releases_gtin on %[1]s.releases (gtin);
		create index if not exists releases_grid on %[1]s.releases (grid);
		analyze %[1]s.releases;
		analyze %[1]s.tracks;
		analyze %[1]s.parties;`, schema(gen)))
	if err != nil {
		return fmt.Errorf("indexes of identifiers generation %d: %w", gen, err)
	}
	return nil
}

// Expose implements projectionpg.Model: the views idf.releases,
// idf.tracks and idf.parties show generation gen. They are replaced in the
// order every read names them (read.go), so a read waits for the swap
// rather than deadlocking with it.
func (Model) Expose(ctx context.Context, tx pgx.Tx, gen int) error {
	_, err := tx.Exec(ctx, fmt.Sprintf(`
		create schema if not exists idf;
		drop view if exists idf.releases;
		drop view if exists idf.tracks;
		drop view if exists idf.parties;
		create view idf.releases as select %[2]d as generation, * from %[1]s.releases;
		create view idf.tracks as select %[2]d as generation, * from %[1]s.tracks;
		create view idf.parties as select %[2]d as generation, * from %[1]s.parties;`, schema(gen), gen))
	if err != nil {
		return fmt.Errorf("point identifiers views at generation %d: %w", gen, err)
	}
	return nil
}

// Validate implements projectionpg.Model.
func (Model) Validate(c projections.Change) string { return identifiers.Validate(c.Event) }

// Prepare implements projectionpg.Preparer (identifiers.Prepare).
func (Model) Prepare(c projections.Change) projections.Change { return identifiers.Prepare(c) }

// The projector prepares changes only for a Model that is a Preparer.
var _ projectionpg.Preparer = Model{}

// Apply implements projectionpg.Model: it loads the release rows of the
// changes' releases, folds the changes into them (identifiers.Fold) and
// writes every changed release with one statement per table.
func (Model) Apply(ctx context.Context, tx pgx.Tx, gen int, changes []projections.Change) (res projections.ApplyResult, err error) {
	ids := map[int64]bool{}
	for _, c := range changes {
		ids[c.Release()] = true
	}
	rows, err := load(ctx, tx, gen, ids)
	if err != nil {
		return res, err
	}
	for _, c := range changes {
		if identifiers.Fold(rows, c) {
			res.Applied++
		} else {
			res.Stale++
		}
	}
	return res, write(ctx, tx, gen, rows)
}

func load(ctx context.Context, tx pgx.Tx, gen int, ids map[int64]bool) (map[int64]*identifiers.Release, error) {
	out := map[int64]*identifiers.Release{}
	if len(ids) == 0 {
		return out, nil
	}
	list := make([]int64, 0, len(ids))
	for id := range ids {
		list = append(list, id)
	}
	q, err := tx.Query(ctx, fmt.Sprintf(`select release_id, coalesce(upc, ''), coalesce(grid, ''), title, version_title, release_type,
		artist_name, label, release_date, owners, purged, version from %s.releases where release_id = any($1) for update`, schema(gen)), list)
	if err != nil {
		return nil, fmt.Errorf("load identifiers releases: %w", err)
	}
	defer q.Close()
	for q.Next() {
		r := &identifiers.Release{Exists: true}
		var id int64
		if err := q.Scan(&id, &r.UPC, &r.GRid, &r.Title, &r.TitleVer, &r.Type, &r.Artist, &r.Label, &r.ReleaseDate, &r.Owners, &r.Purged, &r.Version); err != nil {
			return nil, fmt.Errorf("load identifiers releases: %w", err)
		}
		out[id] = r
	}
	if err := q.Err(); err != nil {
		return nil, fmt.Errorf("load identifiers releases: %w", err)
	}
	return out, nil
}

// write stores every changed release: one upsert of releases; for
// releases whose tracklist the batch replaced, one delete of the track
// rows that changed or went and one insert of the new ones; one delete and
// one insert of their parties.
func write(ctx context.Context, tx pgx.Tx, gen int, rows map[int64]*identifiers.Release) error {
	var (
		relIDs, versions                                       []int64
		upcs, gtins, grids                                     []*string
		titles, vers, types, artists, labels, dates, ownersCol []string
		purged                                                 []bool
		tracksOf                                               []int64
		tRel, tID                                              []int64
		tISRC, tTitle, tVer, tArtist                           []string
		tDuration, tDisc, tNumber                              []int32
		pParty                                                 []string
		pRel                                                   []int64
	)
	for id, r := range rows {
		if !r.Dirty {
			continue
		}
		owners := r.Owners
		if owners == nil {
			owners = []string{}
		}
		ol, err := pgArray(owners)
		if err != nil {
			return err
		}
		relIDs, versions, purged = append(relIDs, id), append(versions, r.Version), append(purged, r.Purged)
		upcs, gtins, grids = append(upcs, nullable(r.UPC)), append(gtins, nullable(identifiers.GTIN(r.UPC))), append(grids, nullable(r.GRid))
		titles, vers, types, artists = append(titles, r.Title), append(vers, r.TitleVer), append(types, r.Type), append(artists, r.Artist)
		labels, dates, ownersCol = append(labels, r.Label), append(dates, r.ReleaseDate), append(ownersCol, ol)
		if r.TracksSet {
			tracksOf = append(tracksOf, id)
			for _, t := range r.Tracks {
				tRel, tID, tISRC, tTitle = append(tRel, id), append(tID, t.TrackID), append(tISRC, t.ISRC), append(tTitle, t.Title)
				tVer, tArtist = append(tVer, t.Version), append(tArtist, t.Artist)
				tDuration, tDisc, tNumber = append(tDuration, int32(t.DurationSeconds)), append(tDisc, int32(t.Disc)), append(tNumber, int32(t.Number))
			}
		}
		if !r.Purged {
			for _, p := range r.Parties() {
				pParty, pRel = append(pParty, p), append(pRel, id)
			}
		}
	}
	if len(relIDs) == 0 {
		return nil
	}
	sc := schema(gen)
	b := &pgx.Batch{}
	b.Queue(fmt.Sprintf(`
		insert into %s.releases (release_id, upc, gtin, grid, title, version_title, release_type, artist_name, label, release_date, owners, purged, version)
		select r.id, r.upc, r.gtin, r.grid, r.title, r.ver, r.typ, r.artist, r.label, r.date, r.owners::text[], r.purged, r.version
		from unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
			$11::text[], $12::bool[], $13::bigint[]) as r(id, upc, gtin, grid, title, ver, typ, artist, label, date, owners, purged, version)
		on conflict (release_id) do update set upc = excluded.upc, gtin = excluded.gtin, grid = excluded.grid, title = excluded.title,
			version_title = excluded.version_title, release_type = excluded.release_type, artist_name = excluded.artist_name,
			label = excluded.label, release_date = excluded.release_date, owners = excluded.owners, purged = excluded.purged,
			version = excluded.version`, sc),
		relIDs, upcs, gtins, grids, titles, vers, types, artists, labels, dates, ownersCol, purged, versions)
	// A replaced tracklist writes only the rows it changed: the rows of
	// its releases that are not in it as they are go, and the rows that
	// are not there yet come (a new title on one track of twelve writes
	// one row, not twelve).
	if len(tracksOf) > 0 {
		b.Queue(fmt.Sprintf(`delete from %s.tracks t where t.release_id = any($1) and not exists (
			select 1 from unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int[], $9::int[], $10::int[])
				as n(release_id, track_id, isrc, title, version_title, artist_name, duration_s, disc, number)
			where (n.release_id, n.track_id, n.isrc, n.title, n.version_title, n.artist_name, n.duration_s, n.disc, n.number)
				= (t.release_id, t.track_id, t.isrc, t.title, t.version_title, t.artist_name, t.duration_s, t.disc, t.number))`, sc),
			tracksOf, tRel, tID, tISRC, tTitle, tVer, tArtist, tDuration, tDisc, tNumber)
	}
	if len(tID) > 0 {
		b.Queue(fmt.Sprintf(`
			insert into %s.tracks (release_id, track_id, isrc, title, version_title, artist_name, duration_s, disc, number)
			select * from unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::int[], $8::int[], $9::int[])
			on conflict (release_id, track_id) do nothing`, sc),
			tRel, tID, tISRC, tTitle, tVer, tArtist, tDuration, tDisc, tNumber)
	}
	b.Queue(fmt.Sprintf(`delete from %s.parties where release_id = any($1)`, sc), relIDs)
	if len(pParty) > 0 {
		b.Queue(fmt.Sprintf(`insert into %s.parties (party, release_id) select * from unnest($1::text[], $2::bigint[])`, sc), pParty, pRel)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("write identifiers: %w", err)
	}
	return nil
}

// pgArray writes a text[] literal, for the owners of many releases in one
// unnest (a two-dimensional array would need equal lengths).
func pgArray(ss []string) (string, error) {
	out := []byte{'{'}
	for i, s := range ss {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		for _, c := range []byte(s) {
			switch c {
			case 0:
				return "", fmt.Errorf("owner %q holds a NUL byte", s)
			case '"', '\\':
				out = append(out, '\\')
			}
			out = append(out, c)
		}
		out = append(out, '"')
	}
	return string(append(out, '}')), nil
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

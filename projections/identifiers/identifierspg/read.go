package identifierspg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// MaxPageSize bounds a page of a party's releases (ReleasesByParty).
const MaxPageSize = 100

// MaxPage bounds the page number of a party's releases: pages are read by
// offset, so the deepest page skips at most MaxPage*MaxPageSize rows of
// the party's index.
const MaxPage = 10000

const releaseColumns = `r.release_id, coalesce(r.upc, ''), coalesce(r.grid, ''), r.title, r.version_title, r.release_type,
	r.artist_name, r.label, r.release_date, r.owners, r.version`

func scanRelease(row pgx.Row) (catalogue.IdentifiedRelease, error) {
	var r catalogue.IdentifiedRelease
	err := row.Scan(&r.ID, &r.UPC, &r.GRid, &r.Title, &r.Version, &r.Type, &r.Artist.Name, &r.Label, &r.ReleaseDate, &r.Owners, &r.Sequence)
	return r, err
}

// Reads and the swap take the views' locks in one order, releases, tracks,
// parties (a swap drops and creates them in that order, and every read is
// one statement naming them in that order), so a read running while a
// rebuild is swapped in waits for it instead of deadlocking with it.

// TracksByISRC returns every live track carrying the compact, upper-case
// ISRC, one per release, in track id then release id order (an index
// look-up).
func (s *Store) TracksByISRC(ctx context.Context, isrc string) ([]catalogue.IdentifiedTrack, error) {
	rows, err := s.pool.Query(ctx, `select t.track_id, t.release_id, t.isrc, t.title, t.version_title, t.artist_name, t.duration_s, t.disc, t.number
		from idf.releases r join idf.tracks t on t.release_id = r.release_id
		where t.isrc = $1 and not r.purged order by t.track_id, t.release_id`, isrc)
	if err != nil {
		return nil, fmt.Errorf("tracks by ISRC %s: %w", isrc, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalogue.IdentifiedTrack, error) {
		var t catalogue.IdentifiedTrack
		err := row.Scan(&t.ID, &t.ReleaseID, &t.ISRC, &t.Title, &t.Version, &t.Artist, &t.DurationSeconds, &t.Disc, &t.Number)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("tracks by ISRC %s: %w", isrc, err)
	}
	return out, nil
}

// ReleaseByGTIN returns the live release with a barcode in its GTIN-14
// form (identifiers.GTIN), with its tracklist; the lowest release id when
// two claim it. found is false when none does.
func (s *Store) ReleaseByGTIN(ctx context.Context, gtin string) (r catalogue.IdentifiedRelease, found bool, err error) {
	return s.releaseWhere(ctx, "gtin", gtin)
}

// ReleaseByGRid returns the live release with a GRid (upper case), with
// its tracklist; the lowest release id when two claim it. found is false
// when none does.
func (s *Store) ReleaseByGRid(ctx context.Context, grid string) (r catalogue.IdentifiedRelease, found bool, err error) {
	return s.releaseWhere(ctx, "grid", grid)
}

// releaseWhere reads the release and its tracks in one statement.
func (s *Store) releaseWhere(ctx context.Context, column, value string) (r catalogue.IdentifiedRelease, found bool, err error) {
	rows, err := s.pool.Query(ctx, `select `+releaseColumns+`, t.track_id, t.isrc, t.title, t.version_title, t.artist_name, t.duration_s, t.disc, t.number
		from idf.releases r left join idf.tracks t on t.release_id = r.release_id
		where r.release_id = (select min(x.release_id) from idf.releases x where x.`+column+` = $1 and not x.purged)
		order by t.disc, t.number, t.track_id`, value)
	if err != nil {
		return r, false, fmt.Errorf("release by %s %s: %w", column, value, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id *int64
		var t catalogue.IdentifiedTrack
		var isrc, title, ver, artist *string
		var dur, disc, num *int
		if err := rows.Scan(&r.ID, &r.UPC, &r.GRid, &r.Title, &r.Version, &r.Type, &r.Artist.Name, &r.Label, &r.ReleaseDate, &r.Owners, &r.Sequence,
			&id, &isrc, &title, &ver, &artist, &dur, &disc, &num); err != nil {
			return r, false, fmt.Errorf("release by %s %s: %w", column, value, err)
		}
		found = true
		if id == nil {
			continue // a release without tracks (purged tracks are gone with it)
		}
		t.ID, t.ReleaseID, t.ISRC, t.Title, t.Version, t.Artist = *id, r.ID, *isrc, *title, *ver, *artist
		t.DurationSeconds, t.Disc, t.Number = *dur, *disc, *num
		r.Tracks = append(r.Tracks, t)
	}
	if err := rows.Err(); err != nil {
		return r, false, fmt.Errorf("release by %s %s: %w", column, value, err)
	}
	return r, found, nil
}

// ReleasesByParty returns page (from 1) of the live releases a DDEX party
// owns, pageSize of them (1 to MaxPageSize), in release id order, without
// tracklists, and how many there are in all (counted by a statement of
// its own, so it may differ from the page by changes committed between
// the two). The order is stable: a release keeps its place while the
// party owns it.
func (s *Store) ReleasesByParty(ctx context.Context, party string, page, pageSize int) ([]catalogue.IdentifiedRelease, int, error) {
	if page < 1 || page > MaxPage || pageSize < 1 || pageSize > MaxPageSize {
		return nil, 0, fmt.Errorf("releases of party %s: page %d of size %d is outside 1..%d of 1..%d", party, page, pageSize, MaxPage, MaxPageSize)
	}
	var total int
	if err := s.pool.QueryRow(ctx, `select count(*) from idf.parties where party = $1`, party).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("releases of party %s: %w", party, err)
	}
	rows, err := s.pool.Query(ctx, `select `+releaseColumns+` from idf.releases r join idf.parties p on p.release_id = r.release_id
		where p.party = $1 order by p.release_id limit $2 offset $3`, party, pageSize, (page-1)*pageSize)
	if err != nil {
		return nil, 0, fmt.Errorf("releases of party %s: %w", party, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (catalogue.IdentifiedRelease, error) { return scanRelease(row) })
	if err != nil {
		return nil, 0, fmt.Errorf("releases of party %s: %w", party, err)
	}
	return out, total, nil
}

// Hash returns a content hash of generation gen's rows (releases, tracks,
// parties, in key order): a rebuild of the same log gives the same hash.
func (s *Store) Hash(ctx context.Context, gen int) (string, error) {
	sc := schema(gen)
	h := sha256.New()
	for _, q := range []string{
		`select concat_ws('|', release_id, upc, gtin, grid, title, version_title, release_type, artist_name, label, release_date, owners::text, purged, version) from %s.releases order by release_id`,
		`select concat_ws('|', release_id, track_id, isrc, title, version_title, artist_name, duration_s, disc, number) from %s.tracks order by release_id, track_id`,
		`select concat_ws('|', party, release_id) from %s.parties order by party, release_id`,
	} {
		rows, err := s.pool.Query(ctx, fmt.Sprintf(q, sc))
		if err != nil {
			return "", fmt.Errorf("hash identifiers generation %d: %w", gen, err)
		}
		var line string
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error { h.Write([]byte(line + "\n")); return nil }); err != nil {
			return "", fmt.Errorf("hash identifiers generation %d: %w", gen, err)
		}
		h.Write([]byte("--\n"))
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

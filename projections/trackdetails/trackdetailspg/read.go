package trackdetailspg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// TrackRow is a track's read-model content (trackdetails.TrackRow).
type TrackRow = trackdetails.TrackRow

// trackColumns are the columns scanRow reads, from td.tracks t joined with
// td.releases r.
const trackColumns = `t.generation, r.version, t.track_id, t.isrc, t.title, t.version_title, t.artist_id, t.artist_name, t.duration_s,
		t.disc, t.number, t.pline, t.parental_warning,
		r.release_id, r.upc, r.grid, r.catalog_number, r.title, r.version_title, r.release_type, r.artist_id, r.artist_name,
		r.label, r.pline, r.release_date, t.terms, r.terms`

// scanRow reads one row of trackColumns.
func scanRow(row pgx.Row) (TrackRow, error) {
	var r trackdetails.TrackRow
	t := &r.Track
	var upc, grid *string
	var own, rel []trackdetails.Term
	if err := row.Scan(
		&r.Generation, &r.Version, &t.ID, &t.ISRC, &t.Title, &t.Version, &t.Artist.ID, &t.Artist.Name, &t.DurationSeconds, &t.Disc,
		&t.Number, &t.PLine, &t.ParentalWarning,
		&t.Release.ID, &upc, &grid, &t.Release.CatalogNumber, &t.Release.Title, &t.Release.Version, &t.Release.Type, &t.Release.Artist.ID,
		&t.Release.Artist.Name, &t.Release.Label, &t.Release.PLine, &t.Release.ReleaseDate, &own, &rel); err != nil {
		return TrackRow{}, err
	}
	t.Release.UPC, t.Release.GRid, t.Release.Sequence = deref(upc), deref(grid), r.Version
	r.Terms = rel
	if own != nil {
		r.Terms = own
	}
	return r, nil
}

// TrackRow reads a track of the live generation, with one index look-up
// on each of the two live tables. It returns catalogue.ErrTrackNotFound for
// an unknown or purged track. A track id that a log written before ids were
// per release put on several releases is answered from the live release
// with the lowest id (docs/events.md).
func (s *Store) TrackRow(ctx context.Context, id int64) (TrackRow, error) {
	r, err := scanRow(s.pool.QueryRow(ctx, `select `+trackColumns+`
		from td.tracks t join td.releases r on r.release_id = t.release_id
		where t.track_id = $1 and not r.purged
		order by t.release_id limit 1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return TrackRow{}, fmt.Errorf("track %d: %w", id, catalogue.ErrTrackNotFound)
	}
	if err != nil {
		return TrackRow{}, fmt.Errorf("read track %d: %w", id, err)
	}
	return r, nil
}

// Track implements the API's track reader straight from PostgreSQL.
func (s *Store) Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error) {
	r, err := s.TrackRow(ctx, id)
	if err != nil {
		return catalogue.Track{}, err
	}
	return r.In(territory, now), nil
}

// Hash is a content hash of a generation of the read model: every release
// and track row in key order, as text. Two generations built from the same
// log have the same hash.
func (s *Store) Hash(ctx context.Context, gen int) (string, error) {
	return Hash(ctx, s.pool, gen)
}

// Hash is Store.Hash on pool: track-details' content hash for the
// projection's descriptor (projector.Projection.Hash).
func Hash(ctx context.Context, pool *pgxpool.Pool, gen int) (string, error) {
	h := sha256.New()
	for _, q := range []string{
		fmt.Sprintf(`select r::text from %s.releases r order by release_id`, schema(gen)),
		fmt.Sprintf(`select t::text from %s.tracks t order by track_id, release_id`, schema(gen)),
	} {
		rows, err := pool.Query(ctx, q)
		if err != nil {
			return "", fmt.Errorf("hash generation %d: %w", gen, err)
		}
		var line string
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error {
			h.Write([]byte(line))
			h.Write([]byte{'\n'})
			return nil
		}); err != nil {
			return "", fmt.Errorf("hash generation %d: %w", gen, err)
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TrackIDsByISRC returns the ids of the live tracks with an ISRC, one per
// release carrying the recording, in id order (an index look-up).
func (s *Store) TrackIDsByISRC(ctx context.Context, isrc string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `select distinct t.track_id from td.tracks t join td.releases r on r.release_id = t.release_id
		where t.isrc = $1 and not r.purged order by t.track_id`, isrc)
	if err != nil {
		return nil, fmt.Errorf("tracks by ISRC %s: %w", isrc, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// TracksByUPC returns the tracks of the live release with a UPC/EAN as
// offered in territory at now, in disc and track order: the release's own
// rows, in one query (an index look-up on each table).
func (s *Store) TracksByUPC(ctx context.Context, upc, territory string, now time.Time) ([]catalogue.Track, error) {
	rows, err := s.pool.Query(ctx, `select `+trackColumns+`
		from td.releases r join td.tracks t on t.release_id = r.release_id
		where r.upc = $1 and not r.purged order by r.release_id, t.disc, t.number`, upc)
	if err != nil {
		return nil, fmt.Errorf("tracks by UPC %s: %w", upc, err)
	}
	defer rows.Close()
	var out []catalogue.Track
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return nil, fmt.Errorf("tracks by UPC %s: %w", upc, err)
		}
		if len(out) > 0 && out[0].Release.ID != r.Track.Release.ID {
			break // one release per barcode; the oldest if two claim it
		}
		out = append(out, r.In(territory, now))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tracks by UPC %s: %w", upc, err)
	}
	return out, nil
}

package projectionpg

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/projections"
)

// TrackRow is a track's read-model content (projections.TrackRow).
type TrackRow = projections.TrackRow

// TrackRow reads a track of the live generation, with one index look-up
// on each of the two live tables. It returns catalogue.ErrTrackNotFound for
// an unknown or purged track.
func (s *TrackDetails) TrackRow(ctx context.Context, id int64) (TrackRow, error) {
	var r projections.TrackRow
	t := &r.Track
	var upc, grid *string
	var own, rel []projections.Term
	err := s.pool.QueryRow(ctx, `
		select t.generation, r.version, t.track_id, t.isrc, t.title, t.version_title, t.artist_id, t.artist_name, t.duration_s, t.disc,
		       t.number, t.pline, t.parental_warning,
		       r.release_id, r.upc, r.grid, r.catalog_number, r.title, r.version_title, r.release_type, r.artist_id, r.artist_name,
		       r.label, r.pline, r.release_date, t.terms, r.terms
		from td.tracks t join td.releases r on r.release_id = t.release_id
		where t.track_id = $1 and not r.purged`, id).Scan(
		&r.Generation, &r.Version, &t.ID, &t.ISRC, &t.Title, &t.Version, &t.Artist.ID, &t.Artist.Name, &t.DurationSeconds, &t.Disc,
		&t.Number, &t.PLine, &t.ParentalWarning,
		&t.Release.ID, &upc, &grid, &t.Release.CatalogNumber, &t.Release.Title, &t.Release.Version, &t.Release.Type, &t.Release.Artist.ID,
		&t.Release.Artist.Name, &t.Release.Label, &t.Release.PLine, &t.Release.ReleaseDate, &own, &rel)
	if errors.Is(err, pgx.ErrNoRows) {
		return TrackRow{}, fmt.Errorf("track %d: %w", id, catalogue.ErrTrackNotFound)
	}
	if err != nil {
		return TrackRow{}, fmt.Errorf("read track %d: %w", id, err)
	}
	t.Release.UPC, t.Release.GRid, t.Release.Sequence = deref(upc), deref(grid), r.Version
	r.Terms = rel
	if own != nil {
		r.Terms = own
	}
	return r, nil
}

// Track implements the API's track reader straight from PostgreSQL.
func (s *TrackDetails) Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error) {
	r, err := s.TrackRow(ctx, id)
	if err != nil {
		return catalogue.Track{}, err
	}
	return r.In(territory, now), nil
}

// Hash is a content hash of a generation of the read model: every release
// and track row in key order, as text. Two generations built from the same
// log have the same hash.
func (s *TrackDetails) Hash(ctx context.Context, gen int) (string, error) {
	h := sha256.New()
	for _, q := range []string{
		fmt.Sprintf(`select r::text from %s.releases r order by release_id`, schema(gen)),
		fmt.Sprintf(`select t::text from %s.tracks t order by track_id`, schema(gen)),
	} {
		rows, err := s.pool.Query(ctx, q)
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

// TrackIDsByISRC returns the ids of the live tracks with an ISRC (one per
// recording; an index look-up).
func (s *TrackDetails) TrackIDsByISRC(ctx context.Context, isrc string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `select t.track_id from td.tracks t join td.releases r on r.release_id = t.release_id
		where t.isrc = $1 and not r.purged order by t.track_id`, isrc)
	if err != nil {
		return nil, fmt.Errorf("tracks by ISRC %s: %w", isrc, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// TrackIDsByUPC returns the track ids of the live release with a UPC/EAN,
// in disc and track order (an index look-up on each table).
func (s *TrackDetails) TrackIDsByUPC(ctx context.Context, upc string) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `select t.track_id from td.releases r join td.tracks t on t.release_id = r.release_id
		where r.upc = $1 and not r.purged order by t.disc, t.number`, upc)
	if err != nil {
		return nil, fmt.Errorf("tracks by UPC %s: %w", upc, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

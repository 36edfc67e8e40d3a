package trackdetailspg

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// TrackKeys calls fn for every track row of the live generation, in
// (track_id, release_id) order: the track's id, the release the row
// belongs to, and whether that release is purged (true, too, for a row
// whose release row is missing). It streams the rows; fn's error stops it.
// Checkers use it to find rows that should not exist, or are missing.
func (s *Store) TrackKeys(ctx context.Context, fn func(trackID, releaseID int64, releasePurged bool) error) error {
	rows, err := s.pool.Query(ctx, `select t.track_id, t.release_id, coalesce(r.purged, true)
		from td.tracks t left join td.releases r on r.release_id = t.release_id
		order by t.track_id, t.release_id`)
	if err != nil {
		return fmt.Errorf("list track rows: %w", err)
	}
	var track, rel int64
	var purged bool
	if _, err := pgx.ForEachRow(rows, []any{&track, &rel, &purged}, func() error { return fn(track, rel, purged) }); err != nil {
		return fmt.Errorf("list track rows: %w", err)
	}
	return nil
}

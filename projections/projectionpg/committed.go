package projectionpg

import (
	"context"
	"fmt"
)

// Committed reports whether a change of release at offset in partition of
// topic is what the API now serves: the live generation has stored a
// checkpoint past offset (its rows are committed; a parked event counts, it
// changed nothing), and no cache invalidation naming release is still
// waiting for Redis (the hot entries no longer hold the old answer). Side-
// effect consumers such as the CDN purger wait for it before they act.
func (s *Store) Committed(ctx context.Context, topic string, partition int32, offset, release int64) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `select exists (
			select 1 from projection_generations g
			join projection_checkpoints c on c.projection = g.projection and c.generation = g.generation
			where g.projection = $1 and g.state = 'live' and c.topic = $2 and c.partition = $3 and c.next_offset > $4)
		and not exists (select 1 from projection_invalidations where projection = $1 and $5 = any(releases))`,
		s.name, topic, partition, offset, release).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("committed %s/%d@%d: %w", topic, partition, offset, err)
	}
	return ok, nil
}

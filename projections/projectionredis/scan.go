package projectionredis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Tracks returns the ids of the tracks that have a key in generation under
// the current Redis server run (an
// entry or a tombstone), each once, in no particular order, walking the generation's
// keys with SCAN (never KEYS), each round trip bounded by the client's
// timeouts and the whole walk only by ctx. A key written or expiring while
// the walk runs may or may not be listed. Read each one with Get, which
// says what a reader would be served. A key under the generation's pattern
// whose track part is not a positive decimal id is ErrCorrupt.
func (c *Cache) Tracks(ctx context.Context, generation int64) ([]int64, error) {
	srv, err := c.known(ctx)
	if err != nil {
		return nil, fmt.Errorf("projectionredis: tracks of generation %d: %w", generation, err)
	}
	// Only this server run's keys can be served; older runs' are not trusted.
	gp := c.prefix + strconv.FormatInt(generation, 10) + ":" + string(srv.run) + ":"
	match := escapeGlob(gp) + "*"
	var (
		cursor uint64
		out    []int64
		seen   = map[int64]bool{} // SCAN may return a key twice
	)
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, match, scanBatch).Result()
		if err != nil {
			return out, fmt.Errorf("projectionredis: tracks of generation %d: scan: %w", generation, err)
		}
		for _, k := range keys {
			id, err := strconv.ParseInt(strings.TrimPrefix(k, gp), 10, 64)
			if err != nil || id <= 0 {
				return out, fmt.Errorf("%w: key %q", ErrCorrupt, k)
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		if next == 0 {
			return out, nil
		}
		cursor = next
	}
}

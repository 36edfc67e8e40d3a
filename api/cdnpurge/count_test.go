package cdnpurge_test

import (
	"context"
	"sync/atomic"

	"github.com/catalog-org/catalog/api/cdnpurge"
)

// countingPurge counts the purges it passes on.
type countingPurge struct {
	next cdnpurge.Purge
	n    atomic.Int64
}

func (c *countingPurge) Purge(ctx context.Context, keys []string) error {
	c.n.Add(1)
	return c.next.Purge(ctx, keys)
}

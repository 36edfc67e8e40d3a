package projections

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
)

// ErrTransient marks an Apply error that a retry of the same batch can
// cure without any change to it: the connection lost, the database
// restarting, a serialization failure or deadlock, a timeout. A store
// wraps such errors with it; every other Apply error is taken as
// possibly deterministic (see applySplitting).
var ErrTransient = errors.New("transient store error")

// IsTransient reports whether err is worth retrying as it is: a store
// error wrapping ErrTransient, or a context deadline.
func IsTransient(err error) bool {
	return errors.Is(err, ErrTransient) || errors.Is(err, context.DeadlineExceeded)
}

// applySplitting applies items (consecutive records of one partition) and
// stores the checkpoint after the last of them, in one transaction, then
// invalidates what it changed. A transient error is returned as it is, for
// the consumer to retry the batch after a backoff. Any other error is
// tried once more; if it repeats identically, the items are split in two
// halves applied one after the other (each with its own checkpoint, in its
// own transaction), down to the single event that fails, which is then
// parked with the error as its reason (and the later events of its release
// behind it). A batch that fails only because of two events together (a
// row touched twice) is thereby applied in parts and parks nothing.
func (p *Handler) applySplitting(ctx context.Context, topic string, partition int32, items []Item, failed error) error {
	cp := Checkpoint{Topic: topic, Partition: partition, NextOffset: items[len(items)-1].Record.Offset + 1}
	err := p.commit(ctx, cp, items)
	if err == nil || IsTransient(err) || ctx.Err() != nil {
		return err
	}
	if failed == nil || err.Error() != failed.Error() {
		// A first failure of these items: once more, as they are.
		failed = err
		if err = p.commit(ctx, cp, items); err == nil || IsTransient(err) || ctx.Err() != nil {
			return err
		}
		if err.Error() != failed.Error() {
			return fmt.Errorf("applying records %d to %d failed twice, differently: %w", items[0].Record.Offset, cp.NextOffset-1, err)
		}
	}
	if len(items) == 1 {
		it := items[0]
		it.Change, it.Skip = nil, false
		it.Poison = "applying it failed twice: " + err.Error()
		p.log.Warn("parking an event whose apply fails", "partition", partition, "offset", it.Record.Offset, "key", it.Key, "err", err)
		return p.commit(ctx, cp, []Item{it})
	}
	half := len(items) / 2
	p.log.Warn("apply failed twice the same way; splitting the batch", "partition", partition,
		"from_offset", items[0].Record.Offset, "records", len(items), "err", err)
	if err := p.applySplitting(ctx, topic, partition, items[:half], err); err != nil {
		return err
	}
	return p.applySplitting(ctx, topic, partition, items[half:], err)
}

// commit applies items in one transaction of the store and sends the
// cache invalidation it owes.
func (p *Handler) commit(ctx context.Context, cp Checkpoint, items []Item) error {
	actx, span := childSpan(ctx, "apply batch", attribute.Int("messaging.batch.message_count", len(items)),
		attribute.Int64("messaging.kafka.offset", items[0].Record.Offset))
	res, err := p.store.Apply(actx, cp, items)
	if err == nil {
		span.SetAttributes(attribute.Int("catalog.applied", res.Applied), attribute.Int("catalog.stale", res.Stale),
			attribute.Int("catalog.parked", res.Parked))
	}
	endSpan(span, err)
	if err != nil {
		return err
	}
	from := items[0].Record.Offset
	if res.Parked > 0 {
		p.log.Warn("events parked", "partition", cp.Partition, "from_offset", from, "parked", res.Parked)
	}
	if res.Stale > 0 {
		p.log.Warn("stale events ignored", "partition", cp.Partition, "from_offset", from, "stale", res.Stale)
	}
	if p.cache != nil && res.Pending != nil {
		ictx, span := childSpan(ctx, "invalidate cache", attribute.Int("catalog.tracks", len(res.Pending.Tracks)))
		err := p.cache.Invalidate(ictx, *res.Pending)
		endSpan(span, err)
		if err != nil {
			// The invalidation is stored with the rows; the retry loop sends
			// it until Redis confirms it.
			p.log.Warn("cache invalidation failed; it is retried", "tracks", len(res.Pending.Tracks), "err", err)
		}
	}
	p.log.Debug("batch applied", "partition", cp.Partition, "records", len(items), "applied", res.Applied, "next_offset", cp.NextOffset)
	return nil
}

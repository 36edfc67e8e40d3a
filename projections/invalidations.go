package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Invalidation is the cache invalidation a committed batch owes: the
// generation whose entries it changed and, per changed track, the release
// and release version the track's row now reflects. The store writes it in
// the batch's transaction, so it exists exactly when the rows do; it is
// deleted once the cache has confirmed it.
type Invalidation struct {
	// ID identifies the stored invalidation.
	ID         int64
	Generation int64
	Tracks     map[int64]ReleaseVersion
	// Stored is when the batch committed.
	Stored time.Time
}

// InvalidationStore keeps the invalidations committed batches owe until
// the cache has confirmed them (see projectionpg).
type InvalidationStore interface {
	// PendingInvalidations returns up to limit stored invalidations, oldest
	// first.
	PendingInvalidations(ctx context.Context, limit int) ([]Invalidation, error)
	// DeleteInvalidation forgets a stored invalidation; deleting one that
	// is already gone is not an error.
	DeleteInvalidation(ctx context.Context, id int64) error
}

// EntryInvalidator replaces the cached entries of tracks in a generation
// with tombstones (see projectionredis). It is idempotent, and an older
// invalidation sent after a newer one changes nothing the newer one did not
// already cover.
type EntryInvalidator interface {
	Invalidate(ctx context.Context, generation int64, tracks map[int64]ReleaseVersion) error
}

// Retry timing of Invalidations.
const (
	// InvalidationRetryMin and InvalidationRetryMax bound the backoff
	// between two failed rounds: it doubles from the minimum to the
	// maximum, and each wait is drawn uniformly from [d/2, d].
	InvalidationRetryMin = 50 * time.Millisecond
	InvalidationRetryMax = time.Second
	// InvalidationPoll is how often the retry loop looks for invalidations
	// left by other processes (or by this one before a restart) when
	// nothing woke it.
	InvalidationPoll = 5 * time.Second
	// invalidationRound is how many stored invalidations one round sends.
	invalidationRound = 16
	// invalidationLogEvery limits repeated failure logs.
	invalidationLogEvery = 30 * time.Second
)

// Invalidations sends the invalidations committed batches owe to the cache
// and retries those that fail until the cache confirms them: Invalidate
// sends a batch's right after its commit, and Run drains whatever is left
// in the store (a failure, or a process that died before sending), at
// start-up and then whenever woken or every InvalidationPoll. Safe for
// concurrent use; several processes may drain one store (a send is
// idempotent, so a duplicate is harmless).
type Invalidations struct {
	store InvalidationStore
	cache EntryInvalidator
	log   *slog.Logger
	wake  chan struct{}

	sent, failed atomic.Uint64
}

// NewInvalidations builds the sender on store and cache.
func NewInvalidations(store InvalidationStore, cache EntryInvalidator, log *slog.Logger) (*Invalidations, error) {
	if store == nil || cache == nil || log == nil {
		return nil, errors.New("projections: invalidation store, cache and logger are required")
	}
	return &Invalidations{store: store, cache: cache, log: log, wake: make(chan struct{}, 1)}, nil
}

// Invalidate implements Invalidator: it sends inv to the cache and, once
// the cache confirmed it, deletes it from the store. On failure inv stays
// stored, the retry loop is woken, and the error is returned.
func (s *Invalidations) Invalidate(ctx context.Context, inv Invalidation) error {
	if err := s.send(ctx, inv); err != nil {
		s.poke()
		return err
	}
	return nil
}

// Stats returns how many invalidations were confirmed and how many sends
// failed since NewInvalidations.
func (s *Invalidations) Stats() (sent, failed uint64) {
	return s.sent.Load(), s.failed.Load()
}

// Run drains the store until ctx ends: right away, then whenever an
// Invalidate failed or InvalidationPoll has passed, and after a failed
// round again after a jittered backoff. It returns nil when ctx ends.
func (s *Invalidations) Run(ctx context.Context) error {
	var (
		attempt   int
		failSince time.Time
		lastLog   time.Time
	)
	for {
		err := s.drain(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := InvalidationPoll
		switch {
		case err != nil:
			if failSince.IsZero() {
				failSince = time.Now()
			}
			if time.Since(lastLog) >= invalidationLogEvery {
				s.log.Warn("cache invalidations pending; retrying", "failing_for", time.Since(failSince).Round(time.Millisecond), "err", err)
				lastLog = time.Now()
			}
			wait = backoff(attempt)
			attempt++
		case !failSince.IsZero():
			s.log.Info("pending cache invalidations sent", "failed_for", time.Since(failSince).Round(time.Millisecond))
			failSince, lastLog, attempt = time.Time{}, time.Time{}, 0
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.wake:
			if err != nil {
				// Keep the backoff: a failing send must not turn the loop
				// into a busy retry.
				select {
				case <-ctx.Done():
					t.Stop()
					return nil
				case <-t.C:
				}
			}
		case <-t.C:
		}
		t.Stop()
	}
}

// drain sends stored invalidations, oldest first, until none is left or one
// fails.
func (s *Invalidations) drain(ctx context.Context) error {
	for {
		pending, err := s.store.PendingInvalidations(ctx, invalidationRound)
		if err != nil {
			return fmt.Errorf("pending invalidations: %w", err)
		}
		for _, inv := range pending {
			if err := s.send(ctx, inv); err != nil {
				return err
			}
		}
		if len(pending) < invalidationRound {
			return nil
		}
	}
}

func (s *Invalidations) send(ctx context.Context, inv Invalidation) error {
	if err := s.cache.Invalidate(ctx, inv.Generation, inv.Tracks); err != nil {
		s.failed.Add(1)
		return fmt.Errorf("invalidate %d tracks of generation %d: %w", len(inv.Tracks), inv.Generation, err)
	}
	if err := s.store.DeleteInvalidation(ctx, inv.ID); err != nil {
		// Sent but still stored: it is sent again, which is harmless.
		return fmt.Errorf("forget invalidation %d: %w", inv.ID, err)
	}
	s.sent.Add(1)
	return nil
}

func (s *Invalidations) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// backoff is the wait before retry attempt n (0 first): the doubling
// delay, capped, drawn uniformly from its upper half.
func backoff(n int) time.Duration {
	d := InvalidationRetryMax
	if n < 8 {
		d = min(InvalidationRetryMin<<n, InvalidationRetryMax)
	}
	return d/2 + rand.N(d/2+1)
}

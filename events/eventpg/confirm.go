package eventpg

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/events"
)

// confirmQueryTimeout bounds one look at the outbox on behalf of the waiters.
const confirmQueryTimeout = 5 * time.Second

// waiter is one Wait call: the rows it waits for and where its answer goes.
type waiter struct {
	ids     []int64
	key     string
	answer  chan error // buffered: the confirm loop never blocks on it
	pending int        // rows still pending at the last look (under Relay.mu)
}

// relayed returns a channel closed when the relay in this process next
// finishes a batch.
func (r *Relay) relayed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Wait returns once none of the outbox rows ids (nor, when key is not
// empty, any row with that key) is pending, or fails with ErrNotConfirmed
// when timeout passes first, or at once with events.ErrBlocked when those
// rows are held behind a blocked row. Safe for concurrent use.
//
// However many deliveries wait at once, one confirm loop answers them all
// with one outbox query per look: when this process's relay finishes a
// batch, when a new waiter arrives, and on a short poll (for when another
// process holds the relay lock). A query per waiter per batch would put as
// many queries on the pool as there are deliveries in flight, and under
// load those queries queue ahead of the relay's own and of new deliveries,
// which slows the relay and lengthens every wait in turn.
func (r *Relay) Wait(ctx context.Context, ids []int64, key string, timeout time.Duration) error {
	w := &waiter{ids: ids, key: key, answer: make(chan error, 1), pending: len(ids)}
	r.mu.Lock()
	r.waiters[w] = struct{}{}
	start := !r.checking
	r.checking = true
	r.mu.Unlock()
	if start {
		go r.confirmLoop()
	} else {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	r.Nudge()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var stopped error
	select {
	case err := <-w.answer:
		return err
	case <-ctx.Done():
		stopped = ctx.Err()
	case <-timer.C:
	}
	r.mu.Lock()
	delete(r.waiters, w)
	n := w.pending
	r.mu.Unlock()
	select {
	case err := <-w.answer: // answered while it gave up: the answer stands
		return err
	default:
	}
	if stopped != nil {
		return stopped
	}
	return fmt.Errorf("%d events: %w", n, ErrNotConfirmed)
}

// confirmLoop answers the waiters until there are none left.
func (r *Relay) confirmLoop() {
	const minDelay, maxDelay = 5 * time.Millisecond, 50 * time.Millisecond
	delay := minDelay
	for {
		r.mu.Lock()
		if len(r.waiters) == 0 {
			r.checking = false
			r.mu.Unlock()
			return
		}
		ws := make([]*waiter, 0, len(r.waiters))
		for w := range r.waiters {
			ws = append(ws, w)
		}
		batch := r.done
		r.mu.Unlock()

		r.confirm(ws)

		select {
		case <-batch:
			delay = minDelay
		case <-r.wake:
		case <-time.After(delay):
			delay = min(2*delay, maxDelay)
		}
	}
}

// confirm looks at the outbox once for all of ws and answers those whose
// rows are all gone, or held behind a blocked row; a failed look answers
// each of them with its error.
func (r *Relay) confirm(ws []*waiter) {
	var ids []int64
	var keys []string
	byID := map[int64]*waiter{}
	byKey := map[string][]*waiter{}
	for _, w := range ws {
		for _, id := range w.ids {
			ids = append(ids, id)
			byID[id] = w
		}
		if w.key != "" {
			if len(byKey[w.key]) == 0 {
				keys = append(keys, w.key)
			}
			byKey[w.key] = append(byKey[w.key], w)
		}
	}
	type tally struct {
		n       int
		blocked *int64
	}
	seen := make(map[*waiter]*tally, len(ws))
	for _, w := range ws {
		seen[w] = &tally{}
	}
	count := func(w *waiter, id int64, blocked bool) {
		t := seen[w]
		t.n++
		if blocked && (t.blocked == nil || id < *t.blocked) {
			t.blocked = &id
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmQueryTimeout)
	defer cancel()
	rows, err := r.pool.Query(ctx, `select id, key, blocked_at is not null from outbox where id = any($1) or key = any($2)`, ids, keys)
	if err == nil {
		var id int64
		var key string
		var blocked bool
		_, err = pgx.ForEachRow(rows, []any{&id, &key, &blocked}, func() error {
			kw := byKey[key]
			for _, w := range kw {
				count(w, id, blocked)
			}
			if w, ok := byID[id]; ok && w.key != key {
				count(w, id, blocked)
			}
			return nil
		})
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range ws {
		if _, ok := r.waiters[w]; !ok {
			continue // gave up meanwhile
		}
		t := seen[w]
		var answer error
		switch {
		case err != nil:
			answer = fmt.Errorf("outbox: %w", err)
		case t.n == 0:
		case t.blocked != nil:
			answer = fmt.Errorf("outbox row %d: %w", *t.blocked, events.ErrBlocked)
		default:
			w.pending = t.n
			continue
		}
		w.answer <- answer
		delete(r.waiters, w)
	}
}

package eventpg

import (
	"context"
	"fmt"
	"slices"
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
	unacked int        // ids Kafka has not acknowledged to this relay yet (under Relay.mu)
}

// relayed returns a channel closed when the relay in this process next
// finishes a batch.
func (r *Relay) relayed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.done
}

// Wait returns once none of the outbox rows ids (nor, when key is not
// empty, any earlier row with that key) is pending, or fails with
// ErrNotConfirmed when timeout passes first, or at once with
// events.ErrBlocked when those rows are held behind a blocked row. Safe for
// concurrent use.
//
// When this process's relay has Kafka acknowledge every one of ids, Wait
// returns then, without waiting for the relay to delete the rows or for a
// look at the outbox: the events are in Kafka, and a relay that dies
// before deleting them finds them there and never sends them again. Every
// earlier row of the key is in Kafka by then too, because the relay sends
// a key's rows in id order and a row only after the ones before it.
//
// However many deliveries wait at once, one confirm loop answers the
// rest (rows another process relayed, rows recovery found already in
// Kafka, blocked rows, a wait on a key alone) with one outbox query per
// look: when this process's relay finishes a batch, when a waiter for a
// key alone arrives, and on a short poll (for when another process holds
// the relay lock). A query per waiter per batch would put as many queries
// on the pool as there are deliveries in flight, and under load those
// queries queue ahead of the relay's own and of new deliveries, which
// slows the relay and lengthens every wait in turn.
func (r *Relay) Wait(ctx context.Context, ids []int64, key string, timeout time.Duration) error {
	w := &waiter{ids: ids, key: key, answer: make(chan error, 1), pending: len(ids), unacked: len(ids)}
	r.mu.Lock()
	for _, id := range ids {
		if r.recent.has(id) {
			w.unacked-- // acknowledged before this wait began
		}
	}
	if len(ids) > 0 && w.unacked == 0 {
		r.mu.Unlock()
		return nil
	}
	r.waiters[w] = struct{}{}
	for _, id := range ids {
		r.byID[id] = append(r.byID[id], w)
	}
	start := !r.checking
	r.checking = true
	r.mu.Unlock()
	if start {
		go r.confirmLoop()
	} else if len(ids) == 0 {
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
	r.forget(w)
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
	// Planned at each execution, not from a cached plan: see runSession.
	rows, err := r.pool.Query(ctx, `select id, key, blocked_at is not null from outbox where id = any($1) or key = any($2)`,
		pgx.QueryExecModeCacheDescribe, ids, keys)
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
		r.forget(w)
	}
}

// acked answers the waiters whose rows Kafka has now all acknowledged to
// this relay: sent holds rows of one successful send.
func (r *Relay) acked(sent []row) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range sent {
		r.recent.add(b.id)
		for _, w := range r.byID[b.id] {
			w.unacked--
			if w.unacked == 0 {
				w.answer <- nil
				r.forget(w)
			}
		}
	}
}

// forget drops an answered or departed waiter; the caller holds r.mu.
func (r *Relay) forget(w *waiter) {
	if _, ok := r.waiters[w]; !ok {
		return
	}
	delete(r.waiters, w)
	for _, id := range w.ids {
		ws := slices.DeleteFunc(r.byID[id], func(x *waiter) bool { return x == w })
		if len(ws) == 0 {
			delete(r.byID, id)
		} else {
			r.byID[id] = ws
		}
	}
}

// recentAcks remembers the last ids Kafka acknowledged to this relay, so a
// Wait that begins just after its rows were acknowledged (the relay can
// read a delivery's rows the moment they are committed, before the
// delivery gets to wait) is answered at once, not on the confirm loop's
// next look. It holds a fixed number of ids (recentAcksKept), the oldest
// forgotten first.
type recentAcks struct {
	ring []int64
	next int
	set  map[int64]struct{}
}

// recentAcksKept is how many acknowledged ids recentAcks holds: about ten
// seconds of events at 500 deliveries a second, far longer than a delivery
// takes from its commit to its wait.
const recentAcksKept = 8192

func (a *recentAcks) add(id int64) {
	if a.set == nil {
		a.ring, a.set = make([]int64, 0, recentAcksKept), make(map[int64]struct{}, recentAcksKept)
	}
	if len(a.ring) < recentAcksKept {
		a.ring = append(a.ring, id)
	} else {
		delete(a.set, a.ring[a.next])
		a.ring[a.next] = id
		a.next = (a.next + 1) % recentAcksKept
	}
	a.set[id] = struct{}{}
}

func (a *recentAcks) has(id int64) bool {
	_, ok := a.set[id]
	return ok
}

package projector

import (
	"context"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catalog-org/catalog/events"
)

// Probe times one round trip to what the live readers depend on (a hot
// read of the API, or the cache it serves from); an error counts as slow.
type Probe func(ctx context.Context) error

// rebuildPacer paces a generation being rebuilt so that the live API keeps
// its latency, and so that the rebuild still finishes.
//
//   - One batch of the rebuilding generation is handled at a time across
//     its partitions, decoding and applying both, and the pause after a
//     batch holds the turn: the generation as a whole is busy at most the
//     current duty's share of the wall clock (a pause per partition would
//     let the partitions' batches overlap and take every core).
//   - The duty moves between Config.RebuildDutyFloor and
//     Config.RebuildDuty by the live readers' latency: the probe runs
//     every Config.RebuildProbeEvery while a rebuild is under way, its
//     round trips timed while a rebuild batch is in flight are compared
//     with those timed while none is (the rest baseline, under the same
//     other load), and the duty halves when the first exceed the second
//     by more than Config.RebuildSlowdown, and grows back a step at a time
//     otherwise (additive increase, multiplicative decrease, as TCP
//     paces a sender by its round-trip time).
//
// It is hand-written because it sits between the consumer and the store
// of one generation and reads one signal; no pacing library does that.
type rebuildPacer struct {
	most, least float64
	slowdown    float64
	probe       Probe
	every       time.Duration

	turn   chan struct{}
	duty   atomic.Uint64 // math.Float64bits of the current duty
	inBusy atomic.Int32  // rebuild batches in flight
	last   atomic.Int64  // UnixNano of the last rebuild batch's end

	mu         sync.Mutex
	rest, busy window
}

// window keeps the last round trips of one kind.
type window struct {
	rtt  [16]time.Duration
	n    int // samples taken (capped at len(rtt))
	next int
	new  int // samples since the last decision
}

func (w *window) add(d time.Duration) {
	w.rtt[w.next] = d
	w.next = (w.next + 1) % len(w.rtt)
	w.n = min(w.n+1, len(w.rtt))
	w.new++
}

func (w *window) mean() time.Duration {
	var s time.Duration
	for _, d := range w.rtt[:w.n] {
		s += d
	}
	return s / time.Duration(max(w.n, 1))
}

// decideAfter is how many fresh in-batch round trips one duty decision
// reads.
const decideAfter = 4

// probeTimeout bounds one probe: a round trip that takes longer is slow.
const probeTimeout = 250 * time.Millisecond

func newRebuildPacer(cfg Config) *rebuildPacer {
	p := &rebuildPacer{most: cfg.RebuildDuty, least: cfg.RebuildDutyFloor, slowdown: cfg.RebuildSlowdown,
		probe: cfg.RebuildProbe, every: cfg.RebuildProbeEvery, turn: make(chan struct{}, 1)}
	p.setDuty(p.most)
	return p
}

// Duty is the share of the wall clock the rebuilding generation may be
// busy now.
func (p *rebuildPacer) Duty() float64 { return math.Float64frombits(p.duty.Load()) }

func (p *rebuildPacer) setDuty(d float64) {
	p.duty.Store(math.Float64bits(min(p.most, max(p.least, d))))
}

// wrap paces h's batches while rebuilding says the generation is being
// rebuilt (checked per batch: once swapped in it runs unpaced). A duty of
// 1 is a rebuild at full speed: every partition at once, no probe.
func (p *rebuildPacer) wrap(h events.BatchHandler, rebuilding func() bool) events.BatchHandler {
	if p.most >= 1 {
		return h
	}
	return pacedHandler{p: p, inner: h, rebuilding: rebuilding}
}

type pacedHandler struct {
	p          *rebuildPacer
	inner      events.BatchHandler
	rebuilding func() bool
}

func (h pacedHandler) HandleBatch(ctx context.Context, b events.Batch) error {
	if !h.rebuilding() {
		return h.inner.HandleBatch(ctx, b)
	}
	p := h.p
	select {
	case p.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-p.turn }()
	p.inBusy.Add(1)
	start := time.Now()
	err := h.inner.HandleBatch(ctx, b)
	took := time.Since(start)
	p.inBusy.Add(-1)
	p.last.Store(time.Now().UnixNano())
	duty := p.Duty()
	if duty >= 1 {
		return err
	}
	select {
	case <-ctx.Done():
	case <-time.After(time.Duration(float64(took) * (1 - duty) / duty)):
	}
	return err
}

// run probes while a rebuild is under way and moves the duty, until ctx
// ends. It does nothing without a probe.
func (p *rebuildPacer) run(ctx context.Context) {
	if p.probe == nil || p.most >= 1 {
		return
	}
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// No rebuild batch for a while: no rebuild, or one that is
		// paused; probe nothing and start the next one at the top.
		if time.Since(time.Unix(0, p.last.Load())) > 2*time.Second {
			p.mu.Lock()
			p.rest, p.busy = window{}, window{}
			p.mu.Unlock()
			p.setDuty(p.most)
			continue
		}
		busy := p.inBusy.Load() > 0
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		start := time.Now()
		err := p.probe(pctx)
		rtt := time.Since(start)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			rtt = max(rtt, probeTimeout)
		}
		busy = busy || p.inBusy.Load() > 0
		p.observe(busy, rtt)
	}
}

// observe records one round trip, timed with a rebuild batch in flight
// (busy) or not, and moves the duty once enough fresh in-batch round trips
// are in.
func (p *rebuildPacer) observe(busy bool, rtt time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !busy {
		p.rest.add(rtt)
		return
	}
	p.busy.add(rtt)
	if p.busy.new < decideAfter || p.rest.n < decideAfter {
		return
	}
	p.busy.new = 0
	if float64(p.busy.mean()) > p.slowdown*float64(p.rest.mean()) {
		p.setDuty(p.Duty() / 2)
		p.busy = window{} // judge the new duty on its own round trips
		return
	}
	p.setDuty(p.Duty() + p.most/8)
}

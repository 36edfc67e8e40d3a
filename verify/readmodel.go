package verify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/projections"
	"github.com/catalog-org/catalog/projections/trackdetails"
)

// availability compares the offers of served rows with the oracle's, one
// (release, deal scope, served terms) at a time: the tracks of a release
// that share a scope and whose rows hold the same terms get the same
// answer in every territory, so each such group is evaluated once.
type availability struct {
	exp  *Expected
	now  time.Time
	all  bool
	seed uint64

	mu    sync.Mutex
	memo  map[availKey][]terrDiff
	terrs map[int64][]string
}

type availKey struct {
	release int64
	scope   string
	terms   uint64
}

// terrDiff is a difference in one territory.
type terrDiff struct {
	territory string
	fieldDiff
}

// territories returns the territories compared for a release's tracks.
func (a *availability) territories(releaseID int64) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.terrs[releaseID]; ok {
		return t
	}
	if a.terrs == nil {
		a.terrs = map[int64][]string{}
	}
	t := a.exp.Territories(releaseID, a.all, a.seed)
	a.terrs[releaseID] = t
	return t
}

// compare returns how the offers a served row makes (read as the API
// reads it, TrackRow.In) differ from the expected offers of the track in
// each territory compared.
func (a *availability) compare(ans answerer, row trackdetails.TrackRow) []terrDiff {
	isrc := ans.rel.tracks[ans.track].ISRC
	scope := ""
	for _, d := range ans.rel.deals {
		if d.Track == isrc {
			scope = isrc
			break
		}
	}
	b, _ := json.Marshal(row.Terms)
	h := fnv.New64a()
	_, _ = h.Write(b)
	key := availKey{ans.rel.id, scope, h.Sum64()}
	a.mu.Lock()
	diffs, done := a.memo[key]
	a.mu.Unlock()
	if done {
		return diffs
	}
	for _, terr := range a.territories(ans.rel.id) {
		var want catalogue.Track
		want.Download, want.Subscription, want.AdSupported = offersIn(ans.rel.deals, isrc, terr, a.now)
		for _, d := range offerDiff(want, row.In(terr, a.now)) {
			diffs = append(diffs, terrDiff{terr, d})
		}
	}
	a.mu.Lock()
	a.memo[key] = diffs
	a.mu.Unlock()
	return diffs
}

// layerCounts gathers what a layer compared, from concurrent workers.
type layerCounts struct {
	mu          sync.Mutex
	tracks      map[int64]bool
	releases    map[int64]bool
	territories map[string]bool
	checks      atomic.Int64
}

func newCounts() *layerCounts {
	return &layerCounts{tracks: map[int64]bool{}, releases: map[int64]bool{}, territories: map[string]bool{}}
}

func (c *layerCounts) saw(track, release int64, territories []string) {
	c.mu.Lock()
	c.tracks[track] = true
	if release > 0 {
		c.releases[release] = true
	}
	for _, t := range territories {
		c.territories[t] = true
	}
	c.mu.Unlock()
	n := int64(len(territories))
	if n == 0 {
		n = 1
	}
	c.checks.Add(n)
}

func (c *layerCounts) summary(layer string, out *collector, began time.Time) LayerSummary {
	return LayerSummary{Layer: layer, Tracks: len(c.tracks), Releases: len(c.releases), Territories: len(c.territories),
		Checks: int(c.checks.Load()), Divergences: out.count(layer), Seconds: time.Since(began).Seconds()}
}

// compareRow compares a served row (from the read model or a hot entry)
// with the answer for its track, in content and in every territory.
func (c *checker) compareRow(layer string, ans answerer, row trackdetails.TrackRow, counts *layerCounts) {
	want := ans.content()
	id := want.ID
	for _, d := range diff(contentFields(want), contentFields(row.Track)) {
		c.out.add(Divergence{Layer: layer, Track: id, Release: ans.rel.id, Field: d.field, Expected: d.expected, Served: d.served})
	}
	for _, d := range c.avail.compare(ans, row) {
		c.out.add(Divergence{Layer: layer, Track: id, Release: ans.rel.id, Territory: d.territory, Field: d.field, Expected: d.expected, Served: d.served})
	}
	counts.saw(id, ans.rel.id, c.avail.territories(ans.rel.id))
}

// sortedIDs returns the map's keys in ascending order.
func sortedIDs[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// postgres compares the live generation of the read model: its set of
// track rows, then each live track as its row reader answers (what the API
// falls back to), then each track that must not be served.
func (c *checker) postgres(ctx context.Context, rm ReadModel) (LayerSummary, error) {
	began := time.Now()
	counts := newCounts()
	e := c.exp

	served := map[rowKey]bool{}
	err := rm.TrackKeys(ctx, func(track, rel int64, purged bool) error {
		k := rowKey{track, rel}
		served[k] = true
		if e.rows[k] || e.heldTracks[track] || e.Held(rel) {
			return nil
		}
		state := "row"
		if purged {
			state = "row (release purged or missing)"
		}
		c.out.add(Divergence{Layer: LayerPostgres, Track: track, Release: rel, Field: "row", Expected: e.whyNoRow(track, rel), Served: state})
		return nil
	})
	if err != nil {
		return LayerSummary{}, err
	}
	for k := range e.rows {
		if !served[k] {
			c.out.add(Divergence{Layer: LayerPostgres, Track: k.track, Release: k.release, Field: "row", Expected: "row", Served: "no row"})
		}
	}

	live, gone := sortedIDs(e.answers), sortedIDs(e.gone)
	err = parallel(ctx, len(live)+len(gone), c.cfg.Concurrency, func(ctx context.Context, i int) error {
		if i >= len(live) {
			id := gone[i-len(live)]
			row, err := rm.TrackRow(ctx, id)
			switch {
			case errors.Is(err, catalogue.ErrTrackNotFound):
			case err != nil:
				return err
			default:
				c.out.add(Divergence{Layer: LayerPostgres, Track: id, Release: row.Track.Release.ID, Field: "track",
					Expected: "not found", Served: fmt.Sprintf("served from release %d", row.Track.Release.ID)})
			}
			counts.saw(id, 0, nil)
			return nil
		}
		id := live[i]
		ans := e.answers[id]
		row, err := rm.TrackRow(ctx, id)
		if errors.Is(err, catalogue.ErrTrackNotFound) {
			c.out.add(Divergence{Layer: LayerPostgres, Track: id, Release: ans.rel.id, Field: "track",
				Expected: fmt.Sprintf("served from release %d", ans.rel.id), Served: "not found"})
			counts.saw(id, ans.rel.id, nil)
			return nil
		}
		if err != nil {
			return err
		}
		c.compareRow(LayerPostgres, ans, row, counts)
		return nil
	})
	if err != nil {
		return LayerSummary{}, fmt.Errorf("postgres layer: %w", err)
	}
	sum := counts.summary(LayerPostgres, c.out, began)
	sum.Checks += len(served) // every row's presence was checked too
	c.log.Info("postgres layer compared", "tracks", sum.Tracks, "divergences", sum.Divergences, "seconds", sum.Seconds)
	return sum, nil
}

// whyNoRow says why the read model must not hold a (track, release) row.
func (e *Expected) whyNoRow(track, rel int64) string {
	r := e.releases[rel]
	switch {
	case r == nil || !r.exists:
		return "no row (no such release in the log)"
	case r.purged:
		return "no row (release purged)"
	}
	return "no row (not on the release's tracklist)"
}

// redis compares every key of the live generation that a reader would be
// served: an entry must hold the row of a live track, right in content and
// offers, at the version of its release.
func (c *checker) redis(ctx context.Context, cache HotCache) (LayerSummary, error) {
	began := time.Now()
	counts := newCounts()
	gen := int64(c.gen)
	ids, err := cache.Tracks(ctx, gen)
	if err != nil {
		return LayerSummary{}, fmt.Errorf("redis layer: %w", err)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	var entries, tombstones atomic.Int64
	err = parallel(ctx, len(ids), c.cfg.Concurrency, func(ctx context.Context, i int) error {
		id := ids[i]
		payload, version, ok, err := getWithRetry(ctx, cache, gen, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			// Redis answered the scan: a key it cannot serve is a bad entry.
			c.out.add(Divergence{Layer: LayerRedis, Track: id, Release: c.exp.answers[id].rel.releaseID(), Field: "entry",
				Expected: "a readable entry or none", Served: err.Error()})
			counts.saw(id, 0, nil)
			return nil
		}
		if !ok {
			tombstones.Add(1)
			return nil
		}
		entries.Add(1)
		if c.exp.heldTracks[id] {
			return nil
		}
		ans, live := c.exp.answers[id]
		var row trackdetails.TrackRow
		if err := json.Unmarshal(payload, &row); err != nil {
			c.out.add(Divergence{Layer: LayerRedis, Track: id, Release: ans.rel.releaseID(), Field: "entry",
				Expected: "a track row", Served: "undecodable: " + err.Error()})
			counts.saw(id, 0, nil)
			return nil
		}
		if !live {
			c.out.add(Divergence{Layer: LayerRedis, Track: id, Field: "entry", Expected: "no entry (the track must not be served)",
				Served: fmt.Sprintf("entry of release %d at version %d", version.Release, version.Version)})
			counts.saw(id, 0, nil)
			return nil
		}
		if want := (projections.ReleaseVersion{Release: ans.rel.id, Version: ans.rel.version}); version != want {
			c.out.add(Divergence{Layer: LayerRedis, Track: id, Release: ans.rel.id, Field: "entry.version",
				Expected: fmt.Sprintf("release %d version %d", want.Release, want.Version),
				Served:   fmt.Sprintf("release %d version %d", version.Release, version.Version)})
		}
		c.compareRow(LayerRedis, ans, row, counts)
		return nil
	})
	if err != nil {
		return LayerSummary{}, fmt.Errorf("redis layer: %w", err)
	}
	sum := counts.summary(LayerRedis, c.out, began)
	sum.Entries, sum.Tombstones = int(entries.Load()), int(tombstones.Load())
	c.log.Info("redis layer compared", "keys", len(ids), "entries", sum.Entries, "divergences", sum.Divergences, "seconds", sum.Seconds)
	return sum, nil
}

func (r *releaseState) releaseID() int64 {
	if r == nil {
		return 0
	}
	return r.id
}

// getWithRetry reads a hot entry, asking again after a short pause when
// Redis does not answer within the cache's deadline; an error that lasts
// through every try is the entry's.
func getWithRetry(ctx context.Context, cache HotCache, gen, id int64) ([]byte, projections.ReleaseVersion, bool, error) {
	var err error
	for try := 0; try < 5; try++ {
		var (
			payload []byte
			version projections.ReleaseVersion
			ok      bool
		)
		payload, version, ok, err = cache.Get(ctx, gen, id)
		if err == nil {
			return payload, version, ok, nil
		}
		select {
		case <-ctx.Done():
			return nil, projections.ReleaseVersion{}, false, ctx.Err()
		case <-time.After(time.Duration(try+1) * 100 * time.Millisecond):
		}
	}
	return nil, projections.ReleaseVersion{}, false, fmt.Errorf("read the entry of track %d: %w", id, err)
}

package trackdetails

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/catalog-org/catalog/domain/catalogue"
	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/projections"
)

// TrackRow is a track's read-model content: enough to answer for any
// territory. Generation and Version say which generation and which release
// version it reflects; the cache keys and guards entries by them.
type TrackRow struct {
	Generation int64           `json:"g"`
	Version    int64           `json:"v"`
	Track      catalogue.Track `json:"t"`
	Terms      []Term          `json:"o"`
}

// In returns the track as offered in territory at now.
func (r TrackRow) In(territory string, now time.Time) catalogue.Track {
	t := r.Track
	t.Territory = territory
	// As OffersIn, without its map: for each usage the last term that
	// offers it wins.
	for _, o := range r.Terms {
		if !o.offeredIn(territory, now) {
			continue
		}
		offer := &catalogue.Offer{From: o.From, To: o.To}
		if o.Price != nil {
			offer.Price = &catalogue.Price{Amount: o.Price.Amount, Currency: o.Price.Currency, Code: o.Price.Code}
		}
		switch o.Usage {
		case release.UsageDownload:
			t.Download = offer
		case release.UsageSubscription:
			t.Subscription = offer
		case release.UsageAdSupported:
			t.AdSupported = offer
		}
	}
	return t
}

// RowSource reads a track's row from the read model of record.
type RowSource interface {
	TrackRow(ctx context.Context, id int64) (TrackRow, error)
}

// HotCache holds hot track rows (see projectionredis). Fill is given the
// release and version the row reflects and when its read from the read
// model began. The payload Get returns is the caller's to keep.
type HotCache interface {
	Get(ctx context.Context, generation, trackID int64) (payload []byte, at projections.ReleaseVersion, ok bool, err error)
	Fill(ctx context.Context, generation, trackID int64, at projections.ReleaseVersion, payload []byte, readAt time.Time) (bool, error)
}

// CachedReader answers track look-ups from the hot cache and falls back to
// the read model, filling the cache with what it read (a version-checked
// fill, so it never puts back an older row than one the projector has
// already invalidated). When the cache is down it answers from the read
// model alone. It implements the API's track reader.
type CachedReader struct {
	source RowSource
	cache  HotCache
	log    *slog.Logger
	gen    atomic.Int64 // the live generation, as the last read model row said
	memo   *rowMemo

	hits, misses, failures atomic.Uint64
}

// CacheStats counts a CachedReader's look-ups by how the cache answered:
// Hits from the cache; Misses not in it (or not decodable), read from the
// read model; Failures the cache could not answer (down, timed out), read
// from the read model. Look-ups without a cache count in none.
type CacheStats struct {
	Hits, Misses, Failures uint64
}

// CacheStats returns the counts since the reader was built.
func (r *CachedReader) CacheStats() CacheStats {
	return CacheStats{Hits: r.hits.Load(), Misses: r.misses.Load(), Failures: r.failures.Load()}
}

// NewCachedReader builds a CachedReader; a nil cache reads the source only.
func NewCachedReader(source RowSource, cache HotCache, log *slog.Logger) (*CachedReader, error) {
	if source == nil || log == nil {
		return nil, errors.New("projections: row source and logger are required")
	}
	return &CachedReader{source: source, cache: cache, log: log, memo: newRowMemo(memoSlots)}, nil
}

// Track returns the track with id as offered in territory at now.
func (r *CachedReader) Track(ctx context.Context, id int64, territory string, now time.Time) (catalogue.Track, error) {
	row, err := r.Row(ctx, id)
	if err != nil {
		return catalogue.Track{}, err
	}
	return row.In(territory, now), nil
}

// Row returns the track's row, from the cache when it holds it. The cached
// payload is the row as encoding/json writes it (verify reads it so too).
// Decoding it is the largest share of a hot read's CPU, so a payload seen
// lately is not decoded again (rowMemo), and one that is, is decoded with
// json/v2, which scans it once, where encoding/json scans it twice, and
// allocates a third as often; a payload json/v2 refuses counts as a miss.
// The returned row's Terms may be shared with other callers and must not
// be modified.
func (r *CachedReader) Row(ctx context.Context, id int64) (TrackRow, error) {
	gen := r.gen.Load()
	if r.cache != nil && gen > 0 {
		payload, _, ok, err := r.cache.Get(ctx, gen, id)
		switch {
		case err != nil:
			r.failures.Add(1)
		case ok:
			if row, ok := r.memo.get(payload); ok {
				r.hits.Add(1)
				return row, nil
			}
			var row TrackRow
			if err := json.Unmarshal(payload, &row); err == nil {
				r.memo.put(payload, row)
				r.hits.Add(1)
				return row, nil
			}
			r.misses.Add(1)
		default:
			r.misses.Add(1)
		}
	}
	readAt := time.Now()
	row, err := r.source.TrackRow(ctx, id)
	if err != nil {
		return TrackRow{}, err
	}
	r.gen.Store(row.Generation)
	if r.cache != nil {
		if payload, err := stdjson.Marshal(row); err == nil {
			at := projections.ReleaseVersion{Release: row.Track.Release.ID, Version: row.Version}
			if _, err := r.cache.Fill(ctx, row.Generation, id, at, payload, readAt); err != nil {
				r.log.Debug("cache fill failed", "track", id, "err", err)
			}
		}
	}
	return row, nil
}

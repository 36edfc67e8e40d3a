package verify

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// The layers compared.
const (
	LayerPostgres = "postgres"
	LayerRedis    = "redis"
	LayerAPI      = "api"
	// LayerIdentifiers is the identifiers read model's look-ups.
	LayerIdentifiers = "identifiers"
)

// Divergence is one difference between what the log says and what a layer
// serves.
type Divergence struct {
	// Layer is postgres, redis, api or identifiers.
	Layer string `json:"layer"`
	// Key is the identifiers look-up compared (isrc:<ISRC>, gtin:<GTIN-14>,
	// grid:<GRid>, party:<party id>); empty in the other layers.
	Key string `json:"key,omitempty"`
	// Track is the track id asked for.
	Track int64 `json:"track"`
	// Release is the release that must answer for the track (0 when none
	// must: the track must not be served), else the one that served it.
	Release int64 `json:"release"`
	// Territory is the country of the comparison; empty for content that
	// does not depend on it.
	Territory string `json:"territory,omitempty"`
	// Field names what differs: a content field (title, release.title,
	// ...), a usage (download, download.from, ...), or, for the whole
	// track, "track" (in the read model), "row" (a read-model row that
	// must not exist), "entry" (a hot entry) or "status" (the API's answer).
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Served   string `json:"served"`
}

// String writes the divergence as one line of key=value pairs.
func (d Divergence) String() string {
	if d.Key != "" {
		return fmt.Sprintf("divergence layer=%s key=%s track=%d release=%d field=%s expected=%s served=%s",
			d.Layer, strconv.Quote(d.Key), d.Track, d.Release, d.Field, strconv.Quote(d.Expected), strconv.Quote(d.Served))
	}
	terr := d.Territory
	if terr == "" {
		terr = "-"
	}
	return fmt.Sprintf("divergence layer=%s track=%d release=%d territory=%s field=%s expected=%s served=%s",
		d.Layer, d.Track, d.Release, terr, d.Field, strconv.Quote(d.Expected), strconv.Quote(d.Served))
}

// LayerSummary says what one layer's comparison covered.
type LayerSummary struct {
	Layer string `json:"layer"`
	// Skipped says why the layer was not compared; empty when it was.
	Skipped string `json:"skipped,omitempty"`
	// Tracks, Releases and Territories count the distinct ones compared.
	Tracks      int `json:"tracks"`
	Releases    int `json:"releases"`
	Territories int `json:"territories"`
	// Checks counts the (track, territory) answers compared, plus the
	// tracks that had to be absent.
	Checks int `json:"checks"`
	// Entries (redis) counts the keys found and those a reader is served.
	Entries    int `json:"entries,omitempty"`
	Tombstones int `json:"tombstones,omitempty"`
	// Requests (api) counts the HTTP requests made.
	Requests    int     `json:"requests,omitempty"`
	Divergences int     `json:"divergences"`
	Seconds     float64 `json:"seconds"`
}

// LogSummary says what the oracle read.
type LogSummary struct {
	Topic      string          `json:"topic"`
	EndOffsets map[int32]int64 `json:"endOffsets"`
	Stats      LogStats        `json:"stats"`
	Releases   int             `json:"releases"`
	Live       int             `json:"liveReleases"`
	Purged     int             `json:"purgedReleases"`
	Held       int             `json:"heldReleases"`
	LiveTracks int             `json:"liveTracks"`
	GoneTracks int             `json:"goneTracks"`
	Seconds    float64         `json:"seconds"`
}

// Report is the outcome of a check.
type Report struct {
	Log LogSummary `json:"log"`
	// Generation is the live read-model generation compared.
	Generation int `json:"generation"`
	// IdentifiersGeneration is the identifiers read model's live
	// generation compared (0 when its layer is skipped).
	IdentifiersGeneration int `json:"identifiersGeneration,omitempty"`
	// CaughtUpSeconds is how long the check waited for lag 0.
	CaughtUpSeconds float64        `json:"caughtUpSeconds"`
	Layers          []LayerSummary `json:"layers"`
	// Divergences are all found, in layer, track, territory, field order.
	Divergences []Divergence `json:"divergences"`
	// Notes are what the log itself showed, and anything that limits the
	// check's conclusions.
	Notes   []string `json:"notes,omitempty"`
	Seconds float64  `json:"seconds"`
}

// collector gathers divergences from concurrent comparisons.
type collector struct {
	mu   sync.Mutex
	list []Divergence
}

func (c *collector) add(d ...Divergence) {
	c.mu.Lock()
	c.list = append(c.list, d...)
	c.mu.Unlock()
}

func (c *collector) count(layer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, d := range c.list {
		if d.Layer == layer {
			n++
		}
	}
	return n
}

func sortDivergences(ds []Divergence) {
	order := map[string]int{LayerPostgres: 0, LayerRedis: 1, LayerAPI: 2, LayerIdentifiers: 3}
	sort.SliceStable(ds, func(i, j int) bool {
		a, b := ds[i], ds[j]
		if a.Layer != b.Layer {
			return order[a.Layer] < order[b.Layer]
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		if a.Track != b.Track {
			return a.Track < b.Track
		}
		if a.Release != b.Release {
			return a.Release < b.Release
		}
		if a.Territory != b.Territory {
			return a.Territory < b.Territory
		}
		return a.Field < b.Field
	})
}

// WriteText prints the report for a person: one line per divergence (at
// most limit; 0 for all), the notes, then the summary.
func (r *Report) WriteText(w io.Writer, limit int) error {
	var b strings.Builder
	for i, d := range r.Divergences {
		if limit > 0 && i == limit {
			fmt.Fprintf(&b, "... and %d more divergences (--max-lines)\n", len(r.Divergences)-limit)
			break
		}
		b.WriteString(d.String())
		b.WriteByte('\n')
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	l := r.Log
	fmt.Fprintf(&b, "log: %s, %d partitions, %d events to the end offsets at start (%d applied, %d stale, %d ignored, %d unknown types, %d unreadable, %d gaps) in %.1f s\n",
		l.Topic, len(l.EndOffsets), l.Stats.Events, l.Stats.Applied, l.Stats.Stale, l.Stats.Ignored, l.Stats.Unknown, l.Stats.Unreadable, l.Stats.Gaps, l.Seconds)
	fmt.Fprintf(&b, "expected: %d releases (%d live, %d purged, %d not checked), %d live tracks, %d tracks that must not be served\n",
		l.Releases, l.Live, l.Purged, l.Held, l.LiveTracks, l.GoneTracks)
	fmt.Fprintf(&b, "read model: generation %d, caught up after %.1f s\n", r.Generation, r.CaughtUpSeconds)
	if r.IdentifiersGeneration > 0 {
		fmt.Fprintf(&b, "identifiers read model: generation %d\n", r.IdentifiersGeneration)
	}
	for _, s := range r.Layers {
		if s.Skipped != "" {
			fmt.Fprintf(&b, "%s: skipped (%s)\n", s.Layer, s.Skipped)
			continue
		}
		fmt.Fprintf(&b, "%s: %d tracks, %d releases, %d territories, %d checks", s.Layer, s.Tracks, s.Releases, s.Territories, s.Checks)
		if s.Layer == LayerRedis {
			fmt.Fprintf(&b, " (%d keys, %d tombstones)", s.Entries, s.Tombstones)
		}
		if s.Layer == LayerIdentifiers {
			b.WriteString(" (look-ups)")
		}
		if s.Layer == LayerAPI {
			fmt.Fprintf(&b, " (%d requests)", s.Requests)
		}
		fmt.Fprintf(&b, ": %d divergences in %.1f s\n", s.Divergences, s.Seconds)
	}
	fmt.Fprintf(&b, "verify: %d divergences in %.1f s\n", len(r.Divergences), r.Seconds)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as one JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	if out.Divergences == nil {
		out.Divergences = []Divergence{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

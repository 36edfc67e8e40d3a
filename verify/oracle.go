package verify

import (
	"fmt"
	"sort"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// Oracle folds release events into the state each release must have. Feed
// it one partition's records in offset order (a release's events are all
// in one partition); Expect merges the oracles of every partition.
//
// The fold is the checker's own, written from the event contract
// (docs/events.md) and the domain types, not from the projector:
//   - a release exists from its first Delivered; an event of a release
//     that was never delivered changes nothing (counted as ignored);
//   - an event applies only when its ce_sequence is above the last one
//     applied for its release (a replay or duplicate is counted as stale);
//   - Delivered sets everything, MetadataChanged the metadata,
//     TracksChanged the tracklist, DealsReplaced and TakenDown the deal
//     set; Purged removes the release's tracks and deals until a later
//     Delivered brings it back;
//   - event types it does not know are passed over (counted as unknown).
//
// A record it cannot read (not an envelope, a schema version it cannot
// upcast, a payload that does not decode, no release id, a track without
// an id or ISRC, a track id twice in one tracklist) holds its release: that release and the records of its
// key after it are left out of the comparison and named in the report,
// since the log alone no longer says what they must be.
type Oracle struct {
	releases map[int64]*releaseState
	keys     map[string]int64  // record key -> release id
	held     map[string]string // record key -> why its events cannot be folded
	seen     map[int64]bool    // every track id an event carried
	stats    LogStats
	notes    []string
}

// LogStats counts what the oracle read.
type LogStats struct {
	// Events is every record read.
	Events int `json:"events"`
	// Applied events changed a release's state.
	Applied int `json:"applied"`
	// Stale events had a sequence not above their release's last one.
	Stale int `json:"stale"`
	// Ignored events came before their release's first delivery.
	Ignored int `json:"ignored"`
	// Unknown events are of types the fold does not use.
	Unknown int `json:"unknown"`
	// Unreadable events could not be decoded or attributed; they hold
	// their release.
	Unreadable int `json:"unreadable"`
	// Gaps counts events whose sequence skipped numbers after the last
	// one applied for their release.
	Gaps int `json:"gaps"`
}

func (s *LogStats) add(o LogStats) {
	s.Events += o.Events
	s.Applied += o.Applied
	s.Stale += o.Stale
	s.Ignored += o.Ignored
	s.Unknown += o.Unknown
	s.Unreadable += o.Unreadable
	s.Gaps += o.Gaps
}

// releaseState is one release as the log says it is.
type releaseState struct {
	id       int64
	key      string
	version  int64 // ce_sequence of the last event applied
	exists   bool  // delivered at least once
	purged   bool
	meta     release.Metadata
	artistID int64
	tracks   []release.TrackInfo
	deals    []release.Deal
	// owners are the parties the log last named for the release: a
	// delivered v3 event's owners or an owners-changed event's; a delivery
	// that names none (an old log's) keeps the ones named before.
	owners []string
	held   string // why the release is left out of the comparison
}

// live reports whether the release serves its tracks.
func (r *releaseState) live() bool { return r.exists && !r.purged }

// maxNotes bounds the notes an oracle keeps; the counts stay exact.
const maxNotes = 50

// NewOracle returns an empty oracle.
func NewOracle() *Oracle {
	return &Oracle{releases: map[int64]*releaseState{}, keys: map[string]int64{}, held: map[string]string{}, seen: map[int64]bool{}}
}

func (o *Oracle) note(format string, args ...any) {
	if len(o.notes) < maxNotes {
		o.notes = append(o.notes, fmt.Sprintf(format, args...))
	}
}

// Record folds one record of the log.
func (o *Oracle) Record(r events.Record) {
	key := string(r.Key)
	env, err := events.Decode(r.Headers, r.Value)
	if err != nil {
		o.stats.Events++
		o.hold(key, 0, fmt.Sprintf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err))
		return
	}
	if key == "" {
		key = env.Subject
	}
	env, ev, known, err := events.DecodePayload(env)
	if err != nil {
		o.stats.Events++
		o.hold(key, 0, fmt.Sprintf("%s/%d@%d: %v", r.Topic, r.Partition, r.Offset, err))
		return
	}
	if !known {
		o.stats.Events++
		o.stats.Unknown++
		return
	}
	o.Apply(key, env.Sequence, ev)
}

// hold stops folding key's events (and its release's, when known); the
// tracks the unreadable event names are left out of the comparison too.
func (o *Oracle) hold(key string, id int64, reason string, tracks ...release.TrackInfo) {
	o.stats.Unreadable++
	if id == 0 {
		id = o.keys[key]
	} else {
		o.keys[key] = id
	}
	if _, already := o.held[key]; !already {
		o.held[key] = reason
		o.note("release %s (id %d) is not checked: %s", key, id, reason)
	}
	if id == 0 {
		return
	}
	r := o.releases[id]
	if r == nil {
		r = &releaseState{id: id, key: key}
		o.releases[id] = r
	}
	if r.held == "" {
		r.held = reason
	}
	r.tracks = append(r.tracks, tracks...)
}

// Apply folds one decoded event of the release with record key key. ev is
// a release.Payload (Delivered, MetadataChanged, TracksChanged, DealsReplaced,
// TakenDown, Purged or OwnersChanged); seq is its ce_sequence.
// OwnersChanged changes only the parties the release is listed under.
func (o *Oracle) Apply(key string, seq int64, ev any) {
	o.stats.Events++
	id, tracks := eventRelease(ev)
	if id <= 0 {
		o.hold(key, 0, fmt.Sprintf("a %T event (sequence %d) has no releaseId", ev, seq))
		return
	}
	ids := make(map[int64]bool, len(tracks))
	for _, t := range tracks {
		if t.TrackID <= 0 || t.ISRC == "" {
			o.hold(key, id, fmt.Sprintf("a %T event (sequence %d) has a track without an id or ISRC (%q)", ev, seq, t.ISRC), tracks...)
			return
		}
		if ids[t.TrackID] {
			o.hold(key, id, fmt.Sprintf("a %T event (sequence %d) has trackId %d twice (a track appears once on a release)", ev, seq, t.TrackID), tracks...)
			return
		}
		ids[t.TrackID] = true
	}
	o.keys[key] = id
	for _, t := range tracks {
		o.seen[t.TrackID] = true
	}
	r := o.releases[id]
	if reason, held := o.held[key]; held {
		// The projector parks every later event of the key behind the
		// unreadable one; the release's state is unknown from here on.
		o.stats.Unreadable++
		if r == nil {
			r = &releaseState{id: id, key: key}
			o.releases[id] = r
		}
		if r.held == "" {
			r.held = reason
		}
		r.tracks = append(r.tracks, tracks...) // every id it may carry is left out
		return
	}
	_, first := ev.(release.Delivered)
	if r == nil {
		if !first {
			o.stats.Ignored++
			return
		}
		r = &releaseState{id: id, key: key}
		o.releases[id] = r
	}
	if r.exists && seq <= r.version {
		o.stats.Stale++
		return
	}
	if !r.exists && !first {
		o.stats.Ignored++
		return
	}
	if r.exists && seq > r.version+1 {
		o.stats.Gaps++
		o.note("release %s (id %d): ce_sequence %d follows %d (a gap in the log)", key, id, seq, r.version)
	}
	switch e := ev.(type) {
	case release.Delivered:
		r.exists, r.purged = true, false
		r.meta, r.artistID = e.Metadata, e.ArtistID
		r.tracks, r.deals = e.Tracks, intern(e.Deals)
		if len(e.Owners) > 0 {
			r.owners = append([]string(nil), e.Owners...)
		}
	case release.OwnersChanged:
		r.owners = append([]string(nil), e.Owners...)
	case release.MetadataChanged:
		r.meta, r.artistID = e.Metadata, e.ArtistID
	case release.TracksChanged:
		r.tracks = e.Tracks
	case release.DealsReplaced:
		r.deals = intern(e.Deals)
	case release.TakenDown:
		r.deals = intern(e.Deals)
	case release.Purged:
		r.purged, r.tracks, r.deals = true, nil, nil
	}
	r.version = seq
	o.stats.Applied++
}

// eventRelease returns an event's release id and the tracks it carries.
func eventRelease(ev any) (int64, []release.TrackInfo) {
	rp, ok := ev.(release.Payload)
	if !ok {
		return 0, nil
	}
	switch e := ev.(type) {
	case release.Delivered:
		return e.ReleaseID, e.Tracks
	case release.TracksChanged:
		return e.ReleaseID, e.Tracks
	}
	return rp.Release(), nil
}

// territoryNames maps every territory string a deal may carry to one
// shared copy, so a large log's deal sets hold each code once.
var territoryNames = func() map[string]string {
	m := map[string]string{release.Worldwide: release.Worldwide}
	for _, t := range release.Territories() {
		m[t] = t
	}
	return m
}()

func intern(deals []release.Deal) []release.Deal {
	for i := range deals {
		for _, l := range [][]string{deals[i].Territories, deals[i].ExcludedTerritories} {
			for k, t := range l {
				if c, ok := territoryNames[t]; ok {
					l[k] = c
				}
			}
		}
	}
	return deals
}

// rowKey names one read-model track row.
type rowKey struct{ track, release int64 }

// Expected is what the read side must serve, derived from every
// partition's oracle.
type Expected struct {
	releases map[int64]*releaseState
	// answers maps each live track id to the release that answers for it:
	// the live release with the lowest id that carries it.
	answers map[int64]answerer
	// rows are the (track, release) rows the read model must hold: every
	// track of every live release.
	rows map[rowKey]bool
	// gone are the track ids the log carried that no live release carries.
	gone map[int64]bool
	// heldTracks are track ids a held release carried: not checked.
	heldTracks map[int64]bool
	// Stats sums the oracles' counts.
	Stats LogStats
	// Notes are what the log itself showed: unreadable records, gaps.
	Notes []string
}

type answerer struct {
	rel   *releaseState
	track int // index in rel.tracks
}

// Expect merges per-partition oracles into the expected read side. A
// release id that appears under two partitions is held.
func Expect(oracles ...*Oracle) *Expected {
	e := &Expected{releases: map[int64]*releaseState{}, answers: map[int64]answerer{}, rows: map[rowKey]bool{},
		gone: map[int64]bool{}, heldTracks: map[int64]bool{}}
	seen := map[int64]bool{}
	for _, o := range oracles {
		e.Stats.add(o.stats)
		e.Notes = append(e.Notes, o.notes...)
		for id, r := range o.releases {
			if other, dup := e.releases[id]; dup {
				reason := fmt.Sprintf("release id %d has events under two keys (%s, %s)", id, other.key, r.key)
				other.held, r.held = reason, reason
				e.Notes = append(e.Notes, reason)
				continue
			}
			e.releases[id] = r
		}
		for id := range o.seen {
			seen[id] = true
		}
	}
	ids := make([]int64, 0, len(e.releases))
	for id := range e.releases {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		r := e.releases[id]
		if r.held != "" {
			for _, t := range r.tracks {
				e.heldTracks[t.TrackID] = true
			}
			continue
		}
		if !r.live() {
			continue
		}
		for i, t := range r.tracks {
			e.rows[rowKey{t.TrackID, id}] = true
			if _, taken := e.answers[t.TrackID]; !taken {
				e.answers[t.TrackID] = answerer{rel: r, track: i} // ids ascend: the lowest release answers
			}
		}
	}
	for id := range seen {
		if _, live := e.answers[id]; !live && !e.heldTracks[id] {
			e.gone[id] = true
		}
	}
	for id := range e.heldTracks {
		delete(e.answers, id)
	}
	return e
}

// Held reports whether a release is left out of the comparison.
func (e *Expected) Held(releaseID int64) bool {
	r := e.releases[releaseID]
	return r != nil && r.held != ""
}

// Counts summarises the expected read side.
func (e *Expected) Counts() (releases, live, purged, held, liveTracks, goneTracks int) {
	for _, r := range e.releases {
		switch {
		case r.held != "":
			held++
		case r.live():
			live++
		case r.purged:
			purged++
		}
	}
	return len(e.releases), live, purged, held, len(e.answers), len(e.gone)
}

package verify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/catalog-org/catalog/domain/catalogue"
)

// Identifiers is the identifiers read model (identifierspg.Store): its
// generations and checkpoints, and the partner look-ups.
type Identifiers interface {
	Generations
	TracksByISRC(ctx context.Context, isrc string) ([]catalogue.IdentifiedTrack, error)
	ReleaseByGTIN(ctx context.Context, gtin string) (catalogue.IdentifiedRelease, bool, error)
	ReleaseByGRid(ctx context.Context, grid string) (catalogue.IdentifiedRelease, bool, error)
	ReleasesByParty(ctx context.Context, party string, page, pageSize int) ([]catalogue.IdentifiedRelease, int, error)
}

// partyPageSize is the page size the identifiers layer reads a party's
// releases with (identifierspg.MaxPageSize).
const partyPageSize = 100

// maxPartyPages bounds the pages read for one party (identifierspg.MaxPage).
const maxPartyPages = 10000

// trackOn is a track id on a release.
type trackOn struct{ track, release int64 }

// idfExpected is what the identifiers look-ups must answer, from the
// oracle's releases. A look-up key a held release carries is not checked.
type idfExpected struct {
	// isrcs maps every ISRC the log carried to the live tracks carrying it.
	isrcs map[string][]trackOn
	// gtins and grids map every barcode (GTIN-14) and GRid the log carried
	// to the live release with the lowest id that has it (nil: none).
	gtins, grids map[string]*releaseState
	// parties maps every party the log named to its live releases, in id
	// order.
	parties map[string][]int64
}

// gtin14 pads a barcode with leading zeros to 14 digits, as GS1 does for
// UPC-A (12) and EAN-13 in a GTIN-14 field; "" stays "".
func gtin14(upc string) string {
	if upc == "" || len(upc) >= 14 {
		return upc
	}
	return strings.Repeat("0", 14-len(upc)) + upc
}

// identifiers derives the look-ups' answers from the releases.
func (e *Expected) identifiers() *idfExpected {
	x := &idfExpected{isrcs: map[string][]trackOn{}, gtins: map[string]*releaseState{}, grids: map[string]*releaseState{},
		parties: map[string][]int64{}}
	heldISRC, heldGTIN, heldGRid, heldParty := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, id := range sortedIDs(e.releases) {
		r := e.releases[id]
		live := r.held == "" && r.live()
		for _, t := range r.tracks {
			if r.held != "" {
				heldISRC[t.ISRC] = true
				continue
			}
			if _, ok := x.isrcs[t.ISRC]; !ok {
				x.isrcs[t.ISRC] = nil
			}
			if live {
				x.isrcs[t.ISRC] = append(x.isrcs[t.ISRC], trackOn{t.TrackID, id})
			}
		}
		for _, k := range []struct {
			m    map[string]*releaseState
			held map[string]bool
			v    string
		}{{x.gtins, heldGTIN, gtin14(r.meta.UPC)}, {x.grids, heldGRid, r.meta.GRid}} {
			switch {
			case k.v == "":
			case r.held != "":
				k.held[k.v] = true
			case live && k.m[k.v] == nil:
				k.m[k.v] = r // ids ascend: the lowest live release answers
			default:
				if _, ok := k.m[k.v]; !ok {
					k.m[k.v] = nil
				}
			}
		}
		var parties []string
		for _, p := range r.owners {
			if p != "" && !contains(parties, p) {
				parties = append(parties, p)
			}
		}
		for _, p := range parties {
			switch {
			case r.held != "":
				heldParty[p] = true
			case live:
				x.parties[p] = append(x.parties[p], id)
			default:
				if _, ok := x.parties[p]; !ok {
					x.parties[p] = nil
				}
			}
		}
	}
	for k := range heldISRC {
		delete(x.isrcs, k)
	}
	for k := range heldGTIN {
		delete(x.gtins, k)
	}
	for k := range heldGRid {
		delete(x.grids, k)
	}
	for k := range heldParty {
		delete(x.parties, k)
	}
	for _, l := range x.isrcs {
		sort.Slice(l, func(i, j int) bool {
			if l[i].track != l[j].track {
				return l[i].track < l[j].track
			}
			return l[i].release < l[j].release
		})
	}
	return x
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// identifiers compares every look-up of the identifiers read model's live
// generation with the oracle: every ISRC's tracks (each (track, release)
// listed or not), every barcode's and GRid's release and its tracklist,
// and every party's releases (each listed or not, and the total).
func (c *checker) identifiers(ctx context.Context, idf Identifiers) (LayerSummary, error) {
	began := time.Now()
	x := c.exp.identifiers()
	var mu sync.Mutex
	tracks, releases := map[int64]bool{}, map[int64]bool{}
	saw := func(ts []trackOn, rels ...int64) {
		mu.Lock()
		for _, t := range ts {
			tracks[t.track], releases[t.release] = true, true
		}
		for _, r := range rels {
			releases[r] = true
		}
		mu.Unlock()
	}
	add := func(key string, track, rel int64, field, expected, served string) {
		c.out.add(Divergence{Layer: LayerIdentifiers, Key: key, Track: track, Release: rel, Field: field, Expected: expected, Served: served})
	}
	isrcs, gtins, grids, parties := sortedKeys(x.isrcs), sortedKeys(x.gtins), sortedKeys(x.grids), sortedKeys(x.parties)
	n := len(isrcs) + len(gtins) + len(grids) + len(parties)
	err := parallel(ctx, n, c.cfg.Concurrency, func(ctx context.Context, i int) error {
		switch {
		case i < len(isrcs):
			isrc := isrcs[i]
			got, err := idf.TracksByISRC(ctx, isrc)
			if err != nil {
				return err
			}
			served := make([]trackOn, len(got))
			for k, t := range got {
				served[k] = trackOn{t.ID, t.ReleaseID}
			}
			want := x.isrcs[isrc]
			listDiff(want, served, func(t trackOn, listed bool) {
				if listed {
					add("isrc:"+isrc, t.track, t.release, "track", "listed", "not listed")
				} else {
					add("isrc:"+isrc, t.track, t.release, "track", "not listed", "listed")
				}
			})
			saw(want)
		case i < len(isrcs)+len(gtins)+len(grids):
			kind, key, want, look := "gtin", "", (*releaseState)(nil), idf.ReleaseByGTIN
			if i < len(isrcs)+len(gtins) {
				key = gtins[i-len(isrcs)]
				want = x.gtins[key]
			} else {
				kind, key, look = "grid", grids[i-len(isrcs)-len(gtins)], idf.ReleaseByGRid
				want = x.grids[key]
			}
			got, found, err := look(ctx, key)
			if err != nil {
				return err
			}
			c.compareRelease(kind+":"+key, want, got, found, add)
			if want != nil {
				saw(nil, want.id)
			}
		default:
			party := parties[i-len(isrcs)-len(gtins)-len(grids)]
			var served []int64
			total := 0
			for page := 1; page <= maxPartyPages; page++ {
				rels, all, err := idf.ReleasesByParty(ctx, party, page, partyPageSize)
				if err != nil {
					return err
				}
				total = all
				for _, r := range rels {
					served = append(served, r.ID)
				}
				if len(rels) < partyPageSize {
					break
				}
			}
			want := x.parties[party]
			listDiff(want, served, func(rel int64, listed bool) {
				if listed {
					add("party:"+party, 0, rel, "release", "listed", "not listed")
				} else {
					add("party:"+party, 0, rel, "release", "not listed", "listed")
				}
			})
			if total != len(want) {
				add("party:"+party, 0, 0, "total", fmt.Sprint(len(want)), fmt.Sprint(total))
			}
			saw(nil, want...)
		}
		return nil
	})
	if err != nil {
		return LayerSummary{}, fmt.Errorf("identifiers layer: %w", err)
	}
	sum := LayerSummary{Layer: LayerIdentifiers, Tracks: len(tracks), Releases: len(releases), Checks: n,
		Divergences: c.out.count(LayerIdentifiers), Seconds: time.Since(began).Seconds()}
	c.log.Info("identifiers layer compared", "isrcs", len(isrcs), "gtins", len(gtins), "grids", len(grids), "parties", len(parties),
		"divergences", sum.Divergences, "seconds", sum.Seconds)
	return sum, nil
}

// compareRelease compares the release a barcode or GRid look-up served
// with the one that must answer: its id, then its tracklist.
func (c *checker) compareRelease(key string, want *releaseState, got catalogue.IdentifiedRelease, found bool,
	add func(key string, track, rel int64, field, expected, served string)) {
	switch {
	case want == nil && !found:
		return
	case want == nil:
		add(key, 0, got.ID, "release", "not found", fmt.Sprintf("release %d", got.ID))
		return
	case !found:
		add(key, 0, want.id, "release", fmt.Sprintf("release %d", want.id), "not found")
		return
	case got.ID != want.id:
		add(key, 0, want.id, "release", fmt.Sprintf("release %d", want.id), fmt.Sprintf("release %d", got.ID))
		return
	}
	exp := make([]trackOn, len(want.tracks))
	for i, t := range want.tracks {
		exp[i] = trackOn{t.TrackID, want.id}
	}
	served := make([]trackOn, len(got.Tracks))
	for i, t := range got.Tracks {
		served[i] = trackOn{t.ID, got.ID}
	}
	listDiff(exp, served, func(t trackOn, listed bool) {
		if listed {
			add(key, t.track, t.release, "track", "listed", "not listed")
		} else {
			add(key, t.track, t.release, "track", "not listed", "listed")
		}
	})
}

// listDiff calls fn for each item of want that served lacks (listed true:
// it must be listed) and each item of served that want lacks (listed
// false: it must not be).
func listDiff[T comparable](want, served []T, fn func(item T, listed bool)) {
	in := make(map[T]int, len(served))
	for _, s := range served {
		in[s]++
	}
	for _, w := range want {
		if in[w] > 0 {
			in[w]--
			continue
		}
		fn(w, true)
	}
	for _, s := range served {
		if in[s] > 0 {
			in[s]--
			fn(s, false)
		}
	}
}

package events

import (
	"bytes"
	"errors"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/catalog-org/catalog/domain/release"
)

// A release's deal set is most of its events' bytes (747 deals for an
// album on sale everywhere) and, decoded by reflection, most of a
// rebuild's CPU and garbage: a []string, a string, a *time.Time and a
// *Price allocated per deal, and the slice grown by copying. dealsFast
// decodes a deal set in the shape our producers write, straight off the
// token stream, into a few arenas per set: one backing array for every
// deal's string slices, one for their times, one for their prices, and
// the territory and usage names shared rather than copied. It is written
// by hand because no decoder option does this; it handles only that
// shape and gives up (errNotFast) on anything else (null, escapes, an
// unknown or repeated key, another JSON type), and decodePayload then
// decodes the whole payload again the ordinary way, so every payload
// decodes exactly as jsonv1.Unmarshal decodes it.
//
// errNotFast stops dealsFast (and tracksFast) on a shape it does not
// handle.
var errNotFast = errors.New("not the canonical shape")

// payloadOptions decode payloads with encoding/json's semantics on the
// json/v2 engine (one pass, where encoding/json scans every payload
// twice), deal sets through dealsFast, tracklists through tracksFast
// (events/tracks.go).
var payloadOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(), json.WithUnmarshalers(json.JoinUnmarshalers(
	json.UnmarshalFromFunc(dealsFast), json.UnmarshalFromFunc(tracksFast))))

// decodePayload decodes data into a new value of t, as jsonv1.Unmarshal
// does: the fast way first, and on any error (not the canonical shape, or
// not a valid payload) again from scratch the ordinary way, so that the
// result and the error are the ordinary decoder's.
func decodePayload(data []byte, t Type) (any, error) {
	ptr := t.New()
	if json.Unmarshal(data, ptr, payloadOptions) == nil {
		return ptr, nil
	}
	ptr = t.New()
	return ptr, jsonv1.Unmarshal(data, ptr)
}

// names are the strings a deal set repeats in every deal: the
// territories, use types and commercial models; dealsFast shares them.
var names = func() map[string]string {
	m := map[string]string{}
	for _, s := range release.Territories() {
		m[s] = s
	}
	for _, s := range []string{release.Worldwide, "PermanentDownload", "ConditionalDownload", "TetheredDownload", "OnDemandStream",
		"NonInteractiveStream", "Stream", "Download", "SubscriptionModel", "AdvertisementSupportedModel", "PayAsYouGoModel",
		"FreeOfChargeModel", "RightsClaimModel", "EUR", "USD", "GBP"} {
		m[s] = s
	}
	return m
}()

// dealArena holds the pieces of one deal set's deals while it is read:
// every string list, time and price of the set, appended to scratch
// arrays reused from set to set (dealScratch). A slice cut from an array
// that has since grown still reads its own values (append copies, it
// never moves them), so the deals read earlier stay whole; finish then
// copies the set out into arrays of its exact size.
type dealArena struct {
	deals  []release.Deal
	strs   []string
	times  []time.Time
	prices []release.Price
}

func (a *dealArena) time() *time.Time {
	a.times = append(a.times, time.Time{})
	return &a.times[len(a.times)-1]
}

func (a *dealArena) price() *release.Price {
	a.prices = append(a.prices, release.Price{})
	return &a.prices[len(a.prices)-1]
}

// finish copies the deal set out of the scratch arrays: the deals, every
// string list, time and price each in one array of the set's exact size,
// so a decoded set holds what it uses and no more whatever its shape (a
// few deals over every territory, or hundreds of one territory each).
func (a *dealArena) finish() []release.Deal {
	deals := append(make([]release.Deal, 0, len(a.deals)), a.deals...)
	// A territory list that names every territory (a deal on sale
	// everywhere, as most are) shares release.Territories() instead of a
	// copy of its 249 names; the deals' other lists are copied.
	every := release.Territories()
	every = every[:len(every):len(every)]
	n := len(a.strs)
	for i := range deals {
		for _, l := range []*[]string{&deals[i].Territories, &deals[i].ExcludedTerritories} {
			if slices.Equal(*l, every) {
				*l = every
				n -= len(every)
			}
		}
	}
	var strs []string
	if n > 0 {
		strs = make([]string, 0, n)
	}
	var times []time.Time
	if len(a.times) > 0 {
		times = make([]time.Time, 0, len(a.times))
	}
	var prices []release.Price
	if len(a.prices) > 0 {
		prices = make([]release.Price, 0, len(a.prices))
	}
	list := func(l *[]string) {
		if len(*l) == 0 || &(*l)[0] == &every[0] {
			return // nil stays nil; an empty list stays empty and non-nil; a shared list stays shared
		}
		from := len(strs)
		strs = append(strs, *l...)
		*l = strs[from:len(strs):len(strs)]
	}
	at := func(t **time.Time) {
		if *t != nil {
			times = append(times, **t)
			*t = &times[len(times)-1]
		}
	}
	for i := range deals {
		d := &deals[i]
		list(&d.Territories)
		list(&d.ExcludedTerritories)
		list(&d.UseTypes)
		list(&d.CommercialModels)
		at(&d.Start)
		at(&d.End)
		if d.Price != nil {
			prices = append(prices, *d.Price)
			d.Price = &prices[len(prices)-1]
		}
	}
	return deals
}

// reset empties the scratch arrays for the next set, dropping what they
// point to.
func (a *dealArena) reset() {
	clear(a.deals)
	clear(a.strs)
	clear(a.prices)
	a.deals, a.strs, a.times, a.prices = a.deals[:0], a.strs[:0], a.times[:0], a.prices[:0]
}

// dealsFast decodes a JSON array of deals into *deals (see errNotFast).
func dealsFast(dec *jsontext.Decoder, deals *[]release.Deal) error {
	return fastArray[release.Deal, *dealArena](dec, deals, &dealScratch)
}

// item reads one deal object into a new deal of the arena.
func (a *dealArena) item(dec *jsontext.Decoder) error {
	a.deals = append(a.deals, release.Deal{})
	return a.deal(dec, &a.deals[len(a.deals)-1])
}

// arena is the scratch a JSON array of T is read into, an object at a
// time, before it is copied out at its exact size (finish); reset readies
// it for the next array.
type arena[T any] interface {
	item(dec *jsontext.Decoder) error
	finish() []T
	reset()
}

// fastArray decodes a JSON array of objects into *out through an arena of
// pool, or reports errNotFast (the ordinary decoder then decodes it) when
// *out is already set or the value is not an array of objects.
func fastArray[T any, A arena[T]](dec *jsontext.Decoder, out *[]T, pool *sync.Pool) error {
	if *out != nil || dec.PeekKind() != '[' {
		return errNotFast
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	a := pool.Get().(A)
	defer func() {
		a.reset()
		pool.Put(a)
	}()
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '{' {
			return errNotFast
		}
		if err := a.item(dec); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*out = a.finish()
	return nil
}

// dealScratch holds the scratch arrays deal sets are read into before
// they are copied out at their exact size (a set's size is not known
// until its end, and growing the result by doubling would leave up to
// twice its size of garbage, or of unused capacity held with it).
var dealScratch = sync.Pool{New: func() any {
	return &dealArena{deals: make([]release.Deal, 0, 1024), strs: make([]string, 0, 1024),
		times: make([]time.Time, 0, 256), prices: make([]release.Price, 0, 128)}
}}

// deal fields, as bits of the keys seen.
const (
	fTrack = 1 << iota
	fTerritories
	fExcluded
	fUseTypes
	fModels
	fStart
	fEnd
	fPrice
	fTakeDown
)

// dealKey returns the bit of a deal's key, 0 for a key not in the
// canonical shape. A switch, which the compiler turns into comparisons
// by length and content, finds it without hashing the key.
func dealKey(k []byte) int {
	switch string(k) {
	case "track":
		return fTrack
	case "territories":
		return fTerritories
	case "excludedTerritories":
		return fExcluded
	case "useTypes":
		return fUseTypes
	case "commercialModels":
		return fModels
	case "start":
		return fStart
	case "end":
		return fEnd
	case "price":
		return fPrice
	case "takeDown":
		return fTakeDown
	}
	return 0
}

// object reads one JSON object whose keys key maps to distinct bits,
// calling field with each key's bit and the decoder at its value. A key
// key does not know (0) or a repeated one is errNotFast: the ordinary
// decoder then decides what it means.
func object(dec *jsontext.Decoder, key func([]byte) int, field func(f int) error) error {
	if _, err := dec.ReadToken(); err != nil { // {
		return err
	}
	seen := 0
	for dec.PeekKind() != '}' {
		k, err := dec.ReadValue()
		if err != nil {
			return err
		}
		f := key(plain(k))
		if f == 0 || seen&f != 0 {
			return errNotFast
		}
		seen |= f
		if err := field(f); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken() // }
	return err
}

func (a *dealArena) deal(dec *jsontext.Decoder, d *release.Deal) error {
	return object(dec, dealKey, func(f int) (err error) {
		switch f {
		case fTrack:
			if d.Track, err = a.str(dec); err != nil {
				return err
			}
		case fTerritories:
			d.Territories, err = a.list(dec)
		case fExcluded:
			d.ExcludedTerritories, err = a.list(dec)
		case fUseTypes:
			d.UseTypes, err = a.list(dec)
		case fModels:
			d.CommercialModels, err = a.list(dec)
		case fStart:
			d.Start, err = a.timeValue(dec)
		case fEnd:
			d.End, err = a.timeValue(dec)
		case fPrice:
			d.Price, err = a.priceValue(dec)
		case fTakeDown:
			switch dec.PeekKind() {
			case 't':
				d.TakeDown = true
			case 'f':
			default:
				return errNotFast
			}
			_, err = dec.ReadToken()
		}
		return err
	})
}

// plain returns the content of a JSON string token without its quotes,
// or nil when it has escapes or is not valid UTF-8 (what the ordinary
// decoder unescapes or replaces).
func plain(v jsontext.Value) []byte {
	if len(v) < 2 || v[0] != '"' {
		return nil
	}
	b := v[1 : len(v)-1]
	if bytes.IndexByte(b, '\\') >= 0 || !utf8.Valid(b) {
		return nil
	}
	return b
}

func (a *dealArena) str(dec *jsontext.Decoder) (string, error) {
	if dec.PeekKind() != '"' {
		return "", errNotFast
	}
	v, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	b := plain(v)
	if b == nil {
		return "", errNotFast
	}
	// Most of a set's strings are territories: the shared one is found by
	// its two letters before any hashing.
	if i, ok := release.TerritoryIndex(string(b)); ok {
		return release.Territories()[i], nil
	}
	if s, ok := names[string(b)]; ok {
		return s, nil
	}
	return string(b), nil
}

func (a *dealArena) list(dec *jsontext.Decoder) ([]string, error) {
	if dec.PeekKind() != '[' {
		return nil, errNotFast
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	from := len(a.strs)
	for dec.PeekKind() != ']' {
		s, err := a.str(dec)
		if err != nil {
			return nil, err
		}
		a.strs = append(a.strs, s)
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	if len(a.strs) == from {
		// An empty array decodes to an empty, non-nil slice.
		return []string{}, nil
	}
	// Cut from the scratch array as it is now (a later append may move
	// the array on; this slice keeps the values, and finish copies them).
	return a.strs[from:len(a.strs):len(a.strs)], nil
}

func (a *dealArena) timeValue(dec *jsontext.Decoder) (*time.Time, error) {
	if dec.PeekKind() != '"' {
		return nil, errNotFast
	}
	v, err := dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if plain(v) == nil {
		return nil, errNotFast
	}
	t := a.time()
	if t.UnmarshalJSON(v) != nil {
		return nil, errNotFast
	}
	return t, nil
}

func (a *dealArena) priceValue(dec *jsontext.Decoder) (*release.Price, error) {
	if dec.PeekKind() != '{' {
		return nil, errNotFast
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	p := a.price()
	seen := 0
	for dec.PeekKind() != '}' {
		k, err := dec.ReadValue()
		if err != nil {
			return nil, err
		}
		var dst *string
		var f int
		switch string(plain(k)) {
		case "amount":
			dst, f = &p.Amount, 1
		case "currency":
			dst, f = &p.Currency, 2
		case "code":
			dst, f = &p.Code, 4
		default:
			return nil, errNotFast
		}
		if seen&f != 0 {
			return nil, errNotFast
		}
		seen |= f
		if *dst, err = a.str(dec); err != nil {
			return nil, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	return p, nil
}

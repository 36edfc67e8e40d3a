package events

import (
	"bytes"
	"errors"
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
// errNotFast stops dealsFast on a shape it does not handle.
var errNotFast = errors.New("not the canonical deal shape")

// payloadOptions decode payloads with encoding/json's semantics on the
// json/v2 engine (one pass, where encoding/json scans every payload
// twice), deal sets through dealsFast.
var payloadOptions = json.JoinOptions(jsonv1.DefaultOptionsV1(), json.WithUnmarshalers(json.UnmarshalFromFunc(dealsFast)))

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

// dealArena hands out the pieces of one deal set's deals from shared
// backing arrays. Slices are cut with their capacity at their length, so
// an append to one never writes into the next.
type dealArena struct {
	strs   []string
	times  []time.Time
	prices []release.Price
}

func (a *dealArena) time() *time.Time {
	if len(a.times) == cap(a.times) {
		a.times = make([]time.Time, 0, 256)
	}
	a.times = a.times[:len(a.times)+1]
	return &a.times[len(a.times)-1]
}

func (a *dealArena) price() *release.Price {
	if len(a.prices) == cap(a.prices) {
		a.prices = make([]release.Price, 0, 128)
	}
	a.prices = a.prices[:len(a.prices)+1]
	return &a.prices[len(a.prices)-1]
}

// dealsFast decodes a JSON array of deals into *deals (see errNotFast).
func dealsFast(dec *jsontext.Decoder, deals *[]release.Deal) error {
	if *deals != nil || dec.PeekKind() != '[' {
		return errNotFast
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	sp := dealScratch.Get().(*[]release.Deal)
	buf := (*sp)[:0]
	defer func() {
		clear(buf)
		*sp = buf[:0]
		dealScratch.Put(sp)
	}()
	var a dealArena
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '{' {
			return errNotFast
		}
		buf = append(buf, release.Deal{})
		if err := a.deal(dec, &buf[len(buf)-1]); err != nil {
			return err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	*deals = append(make([]release.Deal, 0, len(buf)), buf...)
	return nil
}

// dealScratch holds the arrays deal sets are read into before they are
// copied out at their exact length (a set's length is not known until its
// end, and growing the result by doubling would leave twice its size of
// garbage).
var dealScratch = sync.Pool{New: func() any { s := make([]release.Deal, 0, 1024); return &s }}

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

var dealKeys = map[string]int{"track": fTrack, "territories": fTerritories, "excludedTerritories": fExcluded, "useTypes": fUseTypes,
	"commercialModels": fModels, "start": fStart, "end": fEnd, "price": fPrice, "takeDown": fTakeDown}

func (a *dealArena) deal(dec *jsontext.Decoder, d *release.Deal) error {
	if _, err := dec.ReadToken(); err != nil { // {
		return err
	}
	seen := 0
	for dec.PeekKind() != '}' {
		k, err := dec.ReadValue()
		if err != nil {
			return err
		}
		f := dealKeys[string(plain(k))]
		if f == 0 || seen&f != 0 {
			return errNotFast
		}
		seen |= f
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
		if err != nil {
			return err
		}
	}
	_, err := dec.ReadToken() // }
	return err
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
	if len(a.strs) > cap(a.strs)-8 {
		a.strs = make([]string, 0, 1024)
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
	// A long list may have moved to a new array on append: keep it whole.
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

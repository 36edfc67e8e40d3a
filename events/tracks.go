package events

import (
	"sync"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/catalog-org/catalog/domain/release"
)

// A tracklist is, after the deal set, most of a release event's fields:
// a dozen tracks of a dozen fields each, which the reflection decoder
// reads by looking every key up, case-insensitively, in the struct's
// field table, and every string copied out on its own. tracksFast reads a
// tracklist in the shape our producers write straight off the token
// stream, as dealsFast reads a deal set: into scratch arrays reused from
// list to list, copied out at their exact size, the strings a list
// repeats from track to track (the artist, the credits, the p-line)
// shared rather than copied. It is written by hand for the same reason
// and with the same contract: it handles only that shape and gives up
// (errNotFast) on anything else (null, escapes, an unknown or repeated
// key, another JSON type, a number that is not a plain integer), and the
// payload is then decoded again the ordinary way.

// trackArena holds one tracklist's tracks and credits while it is read.
type trackArena struct {
	tracks  []release.TrackInfo
	credits []release.Credit
	spans   []span
	// last is the string the list read last for each track field kept
	// (see share).
	last [tLast]string
}

// track fields, as bits of the keys seen.
const (
	tTrackID = 1 << iota
	tISRC
	tTitle
	tVersion
	tArtist
	tArtistID
	tArtists
	tDuration
	tDisc
	tNumber
	tPLine
	tParental
)

// The string fields share indexes in trackArena.last.
const (
	sArtist = iota
	sPLine
	sParental
	sVersion
	sName
	sRole
	tLast
)

// trackKey returns the bit of a track's key, 0 for a key not in the
// canonical shape (see dealKey).
func trackKey(k []byte) int {
	switch string(k) {
	case "trackId":
		return tTrackID
	case "isrc":
		return tISRC
	case "title":
		return tTitle
	case "version":
		return tVersion
	case "artist":
		return tArtist
	case "artistId":
		return tArtistID
	case "artists":
		return tArtists
	case "durationSeconds":
		return tDuration
	case "disc":
		return tDisc
	case "number":
		return tNumber
	case "pLine":
		return tPLine
	case "parentalWarning":
		return tParental
	}
	return 0
}

// tracksFast decodes a JSON array of tracks into *tracks (see
// errNotFast).
func tracksFast(dec *jsontext.Decoder, tracks *[]release.TrackInfo) error {
	return fastArray[release.TrackInfo, *trackArena](dec, tracks, &trackScratch)
}

// item reads one track object into a new track of the arena.
func (a *trackArena) item(dec *jsontext.Decoder) error {
	a.tracks = append(a.tracks, release.TrackInfo{})
	return a.track(dec, len(a.tracks)-1)
}

// trackScratch holds the scratch arrays tracklists are read into.
var trackScratch = sync.Pool{New: func() any {
	return &trackArena{tracks: make([]release.TrackInfo, 0, 64), credits: make([]release.Credit, 0, 128), spans: make([]span, 0, 64)}
}}

// span is where one track's credits lie in the arena's credits.
type span struct{ track, from, to int }

func (a *trackArena) track(dec *jsontext.Decoder, i int) error {
	t := &a.tracks[i]
	return object(dec, trackKey, func(f int) (err error) {
		var n int64
		switch f {
		case tTrackID:
			n, err = integer(dec)
			t.TrackID = n
		case tISRC:
			t.ISRC, err = a.str(dec, -1)
		case tTitle:
			t.Title, err = a.str(dec, -1)
		case tVersion:
			t.Version, err = a.str(dec, sVersion)
		case tArtist:
			t.Artist, err = a.str(dec, sArtist)
		case tArtistID:
			n, err = integer(dec)
			t.ArtistID = n
		case tArtists:
			err = a.artists(dec, i)
		case tDuration:
			n, err = integer(dec)
			t.DurationSeconds = int(n)
		case tDisc:
			n, err = integer(dec)
			t.Disc = int(n)
		case tNumber:
			n, err = integer(dec)
			t.Number = int(n)
		case tPLine:
			t.PLine, err = a.str(dec, sPLine)
		case tParental:
			t.ParentalWarning, err = a.str(dec, sParental)
		}
		return err
	})
}

// artists reads track i's credits into the arena's credits; finish gives
// the track its slice of them.
func (a *trackArena) artists(dec *jsontext.Decoder, i int) error {
	if dec.PeekKind() != '[' {
		return errNotFast
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	from := len(a.credits)
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '{' {
			return errNotFast
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		var c release.Credit
		seen := 0
		for dec.PeekKind() != '}' {
			k, err := dec.ReadValue()
			if err != nil {
				return err
			}
			switch string(plain(k)) {
			case "name":
				if seen&1 != 0 {
					return errNotFast
				}
				seen |= 1
				c.Name, err = a.str(dec, sName)
			case "role":
				if seen&2 != 0 {
					return errNotFast
				}
				seen |= 2
				c.Role, err = a.str(dec, sRole)
			default:
				return errNotFast
			}
			if err != nil {
				return err
			}
		}
		if _, err := dec.ReadToken(); err != nil { // }
			return err
		}
		a.credits = append(a.credits, c)
	}
	if _, err := dec.ReadToken(); err != nil { // ]
		return err
	}
	a.spans = append(a.spans, span{track: i, from: from, to: len(a.credits)})
	return nil
}

// str reads a plain JSON string. For a field whose value tracks of a list
// tend to repeat (field >= 0), a value equal to the last one read for
// that field is shared with it instead of copied.
func (a *trackArena) str(dec *jsontext.Decoder, field int) (string, error) {
	if dec.PeekKind() != '"' {
		return "", errNotFast
	}
	v, err := dec.ReadValue()
	if err != nil {
		return "", err
	}
	b := plain(v)
	if b == nil {
		// Escapes: encoding/json writes & < > as \u0026 etc., and a
		// p-line names its label ("2026 Cinder & Glass").
		if b, err = unescape(v); err != nil {
			return "", err
		}
	}
	if field < 0 {
		return string(b), nil
	}
	if a.last[field] == string(b) {
		return a.last[field], nil
	}
	s := string(b)
	a.last[field] = s
	return s, nil
}

// unescape returns the content of a JSON string token with escapes, as
// the ordinary decoder reads it; input that is not valid UTF-8 (which
// the ordinary decoder reads with replacement characters) is not the fast
// shape.
func unescape(v jsontext.Value) ([]byte, error) {
	if !utf8.Valid(v) {
		return nil, errNotFast
	}
	b, err := jsontext.AppendUnquote(nil, v)
	if err != nil {
		return nil, errNotFast
	}
	return b, nil
}

// integer reads a JSON number that is a plain integer of at most 18
// digits (what the ordinary decoder reads into an int64 or int exactly);
// anything else is not the fast shape.
func integer(dec *jsontext.Decoder) (int64, error) {
	if dec.PeekKind() != '0' {
		return 0, errNotFast
	}
	v, err := dec.ReadValue()
	if err != nil {
		return 0, err
	}
	neg := len(v) > 0 && v[0] == '-'
	if neg {
		v = v[1:]
	}
	if len(v) == 0 || len(v) > 18 {
		return 0, errNotFast
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, errNotFast
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

// finish copies the tracklist out of the scratch arrays: the tracks and
// all their credits each in one array of the list's exact size.
func (a *trackArena) finish() []release.TrackInfo {
	tracks := append(make([]release.TrackInfo, 0, len(a.tracks)), a.tracks...)
	if len(a.spans) > 0 {
		credits := append(make([]release.Credit, 0, len(a.credits)), a.credits...)
		for _, s := range a.spans {
			tracks[s.track].Artists = credits[s.from:s.to:s.to]
		}
	}
	return tracks
}

// reset empties the scratch arrays for the next list, dropping what they
// point to.
func (a *trackArena) reset() {
	clear(a.tracks)
	clear(a.credits)
	a.tracks, a.credits, a.spans = a.tracks[:0], a.credits[:0], a.spans[:0]
	a.last = [tLast]string{}
}

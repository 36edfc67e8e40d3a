package release

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Problem is one reason a delivery was rejected: the field (a JSON-path-like
// location such as tracks[2].isrc) and why.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem found in a delivery, not only the first.
type ValidationError struct {
	Problems []Problem
}

// Error joins the problems into one line.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	return "invalid release: " + strings.Join(parts, "; ")
}

// IsValidationError reports whether err is (or wraps) a *ValidationError and
// returns it.
func IsValidationError(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}

// Draft is a release as it arrives at the edge, in primitive types. New
// validates it into a Release.
type Draft struct {
	UPC          string
	Title        string
	Artist       string
	Label        string
	Tracks       []DraftTrack
	Availability []DraftAvailability
}

// DraftTrack is one track of a Draft. Artist may be empty (the release
// artist performs it); Duration is an ISO 8601 duration.
type DraftTrack struct {
	ISRC     string
	Title    string
	Artist   string
	Duration string
	Disc     int
	Number   int
}

// DraftAvailability is when the release may be sold (Download) and streamed
// (Streaming) in one territory: dates (2006-01-02) or RFC 3339 times, UTC
// assumed; an empty string means "not offered".
type DraftAvailability struct {
	Territory string
	Download  string
	Streaming string
}

// Release is a validated release. Its zero value is not valid; build one
// with New.
type Release struct {
	upc          UPC
	title        string
	artist       string
	label        string
	tracks       []Track
	availability []Availability
}

// Track is a validated track of a Release.
type Track struct {
	ISRC     ISRC
	Title    string
	Artist   string
	Duration Duration
	Disc     int
	Number   int
}

// Availability is a validated availability window start per territory.
// A nil time means the usage is not offered there.
type Availability struct {
	Territory     Territory
	DownloadFrom  *time.Time
	StreamingFrom *time.Time
}

// New validates d and returns the Release, or a *ValidationError listing
// every problem found.
func New(d Draft) (Release, error) {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	r := Release{title: strings.TrimSpace(d.Title), artist: strings.TrimSpace(d.Artist), label: strings.TrimSpace(d.Label)}

	if d.UPC == "" {
		add("upc", "is required")
	} else if u, err := ParseUPC(d.UPC); err != nil {
		add("upc", "%v", err)
	} else {
		r.upc = u
	}
	if r.title == "" {
		add("title", "is required")
	}
	if r.artist == "" {
		add("artist", "is required")
	}
	if r.label == "" {
		add("label", "is required")
	}

	if len(d.Tracks) == 0 {
		add("tracks", "at least one track is required")
	}
	seenISRC := map[string]int{}
	seenPos := map[[2]int]int{}
	for i, dt := range d.Tracks {
		f := fmt.Sprintf("tracks[%d]", i)
		t := Track{Title: strings.TrimSpace(dt.Title), Artist: strings.TrimSpace(dt.Artist), Disc: dt.Disc, Number: dt.Number}
		if dt.ISRC == "" {
			add(f+".isrc", "is required")
		} else if v, err := ParseISRC(dt.ISRC); err != nil {
			add(f+".isrc", "%v", err)
		} else if j, dup := seenISRC[v.String()]; dup {
			add(f+".isrc", "%s is also tracks[%d]; an ISRC appears once per release", v, j)
		} else {
			seenISRC[v.String()] = i
			t.ISRC = v
		}
		if t.Title == "" {
			add(f+".title", "is required")
		}
		if t.Artist == "" {
			t.Artist = r.artist
		}
		if dt.Duration == "" {
			add(f+".duration", "is required")
		} else if v, err := ParseDuration(dt.Duration); err != nil {
			add(f+".duration", "%v", err)
		} else {
			t.Duration = v
		}
		if dt.Disc < 1 {
			add(f+".disc", "must be 1 or more, got %d", dt.Disc)
		}
		if dt.Number < 1 {
			add(f+".number", "must be 1 or more, got %d", dt.Number)
		}
		if dt.Disc >= 1 && dt.Number >= 1 {
			pos := [2]int{dt.Disc, dt.Number}
			if j, dup := seenPos[pos]; dup {
				add(f+".number", "disc %d track %d is also tracks[%d]", dt.Disc, dt.Number, j)
			}
			seenPos[pos] = i
		}
		r.tracks = append(r.tracks, t)
	}

	seenTerr := map[string]int{}
	for i, da := range d.Availability {
		f := fmt.Sprintf("availability[%d]", i)
		var a Availability
		if da.Territory == "" {
			add(f+".territory", "is required")
		} else if v, err := ParseTerritory(da.Territory); err != nil {
			add(f+".territory", "%v", err)
		} else if j, dup := seenTerr[v.String()]; dup {
			add(f+".territory", "%s is also availability[%d]", v, j)
		} else {
			seenTerr[v.String()] = i
			a.Territory = v
		}
		for _, u := range []struct {
			name string
			in   string
			out  **time.Time
		}{{"download", da.Download, &a.DownloadFrom}, {"streaming", da.Streaming, &a.StreamingFrom}} {
			if u.in == "" {
				continue
			}
			t, err := parseDate(u.in)
			if err != nil {
				add(f+"."+u.name, "%v", err)
				continue
			}
			*u.out = &t
		}
		if da.Download == "" && da.Streaming == "" {
			add(f, "needs a download or a streaming start date")
		}
		r.availability = append(r.availability, a)
	}

	if len(ps) > 0 {
		return Release{}, &ValidationError{Problems: ps}
	}
	sort.Slice(r.tracks, func(i, j int) bool {
		a, b := r.tracks[i], r.tracks[j]
		return a.Disc < b.Disc || a.Disc == b.Disc && a.Number < b.Number
	})
	sort.Slice(r.availability, func(i, j int) bool {
		return r.availability[i].Territory.s < r.availability[j].Territory.s
	})
	return r, nil
}

func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02) or an RFC 3339 time", s)
}

// UPC returns the release's barcode, its aggregate id.
func (r Release) UPC() UPC { return r.upc }

// Tracks returns the tracks ordered by disc and number.
func (r Release) Tracks() []Track { return append([]Track(nil), r.tracks...) }

// Artists returns the distinct artist names of the release and its tracks.
func (r Release) Artists() []string {
	seen := map[string]bool{r.artist: true}
	out := []string{r.artist}
	for _, t := range r.tracks {
		if !seen[t.Artist] {
			seen[t.Artist] = true
			out = append(out, t.Artist)
		}
	}
	return out
}

// Fingerprint is a digest of the release's content: two deliveries with the
// same fingerprint say the same thing.
func (r Release) Fingerprint() string {
	b, _ := json.Marshal(struct {
		UPC, Title, Artist, Label string
		Tracks                    []Track
		Availability              []Availability
	}{r.upc.s, r.title, r.artist, r.label, r.tracks, r.availability})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// MarshalJSON writes the value types in their string forms, used by Fingerprint.
func (v ISRC) MarshalJSON() ([]byte, error) { return json.Marshal(v.s) }

// MarshalJSON writes the territory code, used by Fingerprint.
func (v Territory) MarshalJSON() ([]byte, error) { return json.Marshal(v.s) }

// MarshalJSON writes whole seconds, used by Fingerprint.
func (v Duration) MarshalJSON() ([]byte, error) { return json.Marshal(v.Seconds()) }

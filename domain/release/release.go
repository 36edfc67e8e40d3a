package release

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Problem is one reason a delivery was rejected: the field (an element
// path for XML deliveries, a JSON-path-like location such as
// tracks[2].isrc otherwise) and why.
type Problem struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// ValidationError lists every problem found in a delivery, not only the
// first, and names the message they were found in.
type ValidationError struct {
	Message  Message
	Problems []Problem
}

// Error joins the problems into one line. The message's name is clipped
// to MaxQuoted bytes, as every quoted input value is.
func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Reason
	}
	name := Clip(e.Message.Name())
	if name == "" {
		name = "(unnamed message)"
	}
	return "invalid delivery " + name + ": " + strings.Join(parts, "; ")
}

// IsValidationError reports whether err is (or wraps) a *ValidationError and
// returns it.
func IsValidationError(err error) (*ValidationError, bool) {
	var v *ValidationError
	ok := errors.As(err, &v)
	return v, ok
}

// Metadata is a release's descriptive data: everything but its tracks and
// deals. Its exported fields are the event schema (JSON names are stable).
type Metadata struct {
	UPC                 string   `json:"upc,omitempty"`
	GRid                string   `json:"grid,omitempty"`
	CatalogNumber       string   `json:"catalogNumber,omitempty"`
	Title               string   `json:"title"`
	Version             string   `json:"version,omitempty"`
	Type                string   `json:"type,omitempty"`
	Label               string   `json:"label,omitempty"`
	Artist              string   `json:"artist"`
	Artists             []Credit `json:"artists,omitempty"`
	PLine               string   `json:"pLine,omitempty"`
	CLine               string   `json:"cLine,omitempty"`
	Genre               string   `json:"genre,omitempty"`
	ParentalWarning     string   `json:"parentalWarning,omitempty"`
	ReleaseDate         string   `json:"releaseDate,omitempty"`
	OriginalReleaseDate string   `json:"originalReleaseDate,omitempty"`
}

// Credit is a credited artist and its role.
type Credit struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// Track is a validated track.
type Track struct {
	ISRC            ISRC
	Title           string
	Version         string
	Artist          string
	Artists         []Credit
	Duration        Duration
	Disc            int
	Number          int
	PLine           string
	ParentalWarning string
}

// Release is a validated delivery of a release: metadata, tracks ordered by
// disc and number, and the full deal set. Build one with New.
type Release struct {
	msg      Message
	upc      UPC
	grid     string
	metadata Metadata
	tracks   []Track
	deals    []Deal
}

var (
	gridPattern    = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)
	partialDate    = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)
	parentalValues = map[string]bool{"": true, "Explicit": true, "ExplicitContentEdited": true, "NotExplicit": true,
		"NoAdviceAvailable": true, "Unknown": true, "UserDefined": true}
)

// problems collects problems, naming each by the draft's Source path when
// the delivery format recorded one.
type problems struct {
	source map[string]string
	list   []Problem
}

func (p *problems) add(field, format string, args ...any) {
	if src, ok := p.source[field]; ok && src != "" {
		field = src
	}
	pr := Problem{Field: field, Reason: fmt.Sprintf(format, args...)}
	for _, q := range p.list {
		if q == pr {
			return // one place, one reason: said once
		}
	}
	p.list = append(p.list, pr)
}

// New validates d and returns the Release, or a *ValidationError naming
// the message and listing every problem found.
func New(d Draft) (Release, error) {
	ps := &problems{source: d.Source}
	r := Release{msg: d.Message}
	trim := strings.TrimSpace

	if d.UPC == "" && d.GRid == "" {
		ps.add("upc", "a UPC/EAN or a GRid is required to identify the release")
	}
	if d.UPC != "" {
		if u, err := ParseUPC(d.UPC); err != nil {
			ps.add("upc", "%v", err)
		} else {
			r.upc = u
		}
	}
	if d.GRid != "" {
		if !gridPattern.MatchString(trim(d.GRid)) {
			ps.add("grid", "%s is not a GRid (letters and digits only)", Quote(d.GRid))
		} else {
			r.grid = strings.ToUpper(trim(d.GRid))
		}
	}
	m := Metadata{
		UPC: r.upc.String(), GRid: r.grid, CatalogNumber: trim(d.CatalogNumber),
		Title: trim(d.Title), Version: trim(d.Version), Type: trim(d.Type), Label: trim(d.Label), Artist: trim(d.Artist),
		Artists: credits(d.Artists), PLine: trim(d.PLine), CLine: trim(d.CLine), Genre: trim(d.Genre),
		ParentalWarning: trim(d.ParentalWarning), ReleaseDate: trim(d.ReleaseDate), OriginalReleaseDate: trim(d.OriginalReleaseDate),
	}
	if m.Title == "" {
		ps.add("title", "is required")
	}
	if m.Artist == "" && len(m.Artists) > 0 {
		m.Artist = m.Artists[0].Name
	}
	if m.Artist == "" {
		ps.add("artist", "is required")
	}
	if !parentalValues[m.ParentalWarning] {
		ps.add("parentalWarning", "%s is not a DDEX ParentalWarningType", Quote(m.ParentalWarning))
	}
	for _, f := range []struct{ name, v string }{{"releaseDate", m.ReleaseDate}, {"originalReleaseDate", m.OriginalReleaseDate}} {
		if f.v != "" && !partialDate.MatchString(f.v) {
			ps.add(f.name, "%s is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD", Quote(f.v))
		}
	}
	r.metadata = m

	if len(d.Tracks) == 0 {
		ps.add("tracks", "at least one track is required")
	}
	seenISRC := map[string]int{}
	seenPos := map[[2]int]int{}
	for i, dt := range d.Tracks {
		f := fmt.Sprintf("tracks[%d]", i)
		t := Track{Title: trim(dt.Title), Version: trim(dt.Version), Artist: trim(dt.Artist), Artists: credits(dt.Artists),
			Disc: dt.Disc, Number: dt.Number, PLine: trim(dt.PLine), ParentalWarning: trim(dt.ParentalWarning)}
		if dt.ISRC == "" {
			ps.add(f+".isrc", "is required")
		} else if v, err := ParseISRC(dt.ISRC); err != nil {
			ps.add(f+".isrc", "%v", err)
		} else if j, dup := seenISRC[v.String()]; dup {
			ps.add(f+".isrc", "%s is also tracks[%d]; an ISRC appears once per release", v, j)
		} else {
			seenISRC[v.String()] = i
			t.ISRC = v
		}
		if t.Title == "" {
			ps.add(f+".title", "is required")
		}
		if t.Artist == "" && len(t.Artists) > 0 {
			t.Artist = t.Artists[0].Name
		}
		if t.Artist == "" {
			t.Artist = m.Artist
		}
		if dt.Duration == "" {
			ps.add(f+".duration", "is required")
		} else if v, err := ParseDuration(dt.Duration); err != nil {
			ps.add(f+".duration", "%v", err)
		} else {
			t.Duration = v
		}
		if dt.Disc < 1 {
			ps.add(f+".disc", "must be 1 or more, got %d", dt.Disc)
		}
		if dt.Number < 1 {
			ps.add(f+".number", "must be 1 or more, got %d", dt.Number)
		}
		if dt.Disc >= 1 && dt.Number >= 1 {
			pos := [2]int{dt.Disc, dt.Number}
			if j, dup := seenPos[pos]; dup {
				ps.add(f+".number", "disc %d track %d is also tracks[%d]", dt.Disc, dt.Number, j)
			}
			seenPos[pos] = i
		}
		if !parentalValues[t.ParentalWarning] {
			ps.add(f+".parentalWarning", "%s is not a DDEX ParentalWarningType", Quote(t.ParentalWarning))
		}
		r.tracks = append(r.tracks, t)
	}

	for j, dd := range d.Deals {
		deal, ok := newDeal(ps, fmt.Sprintf("deals[%d]", j), dd, seenISRC)
		if ok {
			r.deals = append(r.deals, deal)
		}
	}

	if len(ps.list) > 0 {
		return Release{}, &ValidationError{Message: d.Message, Problems: ps.list}
	}
	sort.SliceStable(r.tracks, func(i, j int) bool {
		a, b := r.tracks[i], r.tracks[j]
		return a.Disc < b.Disc || a.Disc == b.Disc && a.Number < b.Number
	})
	r.deals = normaliseDeals(r.deals)
	return r, nil
}

func credits(in []DraftArtist) []Credit {
	var out []Credit
	for _, a := range in {
		if n := strings.TrimSpace(a.Name); n != "" {
			out = append(out, Credit{Name: n, Role: strings.TrimSpace(a.Role)})
		}
	}
	return out
}

// ParseTime reads a deal date: a date (2006-01-02, midnight UTC) or an
// RFC 3339 date-time; a date-time without a time zone is read as UTC (DDEX
// allows it and real deliveries use it).
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%s is not a date (2006-01-02) or a date-time (2006-01-02T15:04:05Z)", Quote(s))
}

// Message returns the delivery's message.
func (r Release) Message() Message { return r.msg }

// Received returns r with its message's creation time set to t when the
// delivery gave none: a message without a time is ordered by when it is
// decided.
func (r Release) Received(t time.Time) Release {
	if r.msg.Created.IsZero() {
		r.msg.Created = t.UTC()
	}
	return r
}

// UPC returns the release's barcode (zero if it has only a GRid).
func (r Release) UPC() UPC { return r.upc }

// GRid returns the release's GRid, upper case ("" if none).
func (r Release) GRid() string { return r.grid }

// Metadata returns the release's descriptive data.
func (r Release) Metadata() Metadata { return r.metadata }

// Tracks returns the tracks ordered by disc and number.
func (r Release) Tracks() []Track { return append([]Track(nil), r.tracks...) }

// Deals returns the release's deal set in canonical order.
func (r Release) Deals() []Deal { return append([]Deal(nil), r.deals...) }

// Artists returns the distinct artist names of the release and its tracks,
// each of which gets a catalogue artist id.
func (r Release) Artists() []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	add(r.metadata.Artist)
	for _, t := range r.tracks {
		add(t.Artist)
	}
	return out
}

// Purge is a validated request to remove a release entirely.
type Purge struct {
	Message Message
	UPC     UPC
	GRid    string
}

// NewPurge validates d.
func NewPurge(d PurgeDraft) (Purge, error) {
	ps := &problems{source: d.Source}
	p := Purge{Message: d.Message}
	if d.UPC == "" && d.GRid == "" {
		ps.add("upc", "a UPC/EAN or a GRid is required to name the release to purge")
	}
	if d.UPC != "" {
		if u, err := ParseUPC(d.UPC); err != nil {
			ps.add("upc", "%v", err)
		} else {
			p.UPC = u
		}
	}
	if g := strings.TrimSpace(d.GRid); g != "" {
		if !gridPattern.MatchString(g) {
			ps.add("grid", "%s is not a GRid (letters and digits only)", Quote(d.GRid))
		} else {
			p.GRid = strings.ToUpper(g)
		}
	}
	if len(ps.list) > 0 {
		return Purge{}, &ValidationError{Message: d.Message, Problems: ps.list}
	}
	return p, nil
}

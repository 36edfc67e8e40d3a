package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

// JSONRelease is the documented JSON delivery format (docs/ingest-json.md):
// a release (the fields of an ERN NewReleaseMessage a catalogue uses), or,
// when Purge is set, a request to remove a release.
type JSONRelease struct {
	MessageID      string `json:"messageId,omitempty"`
	Sender         string `json:"sender,omitempty"`
	SentOnBehalfOf string `json:"sentOnBehalfOf,omitempty"`
	Recipient      string `json:"recipient,omitempty"`
	MessageCreated string `json:"messageCreated,omitempty"`
	Test           bool   `json:"test,omitempty"`

	Purge *JSONPurge `json:"purge,omitempty"`

	UPC                 string             `json:"upc,omitempty"`
	GRid                string             `json:"grid,omitempty"`
	CatalogNumber       string             `json:"catalogNumber,omitempty"`
	Title               string             `json:"title,omitempty"`
	Version             string             `json:"version,omitempty"`
	Type                string             `json:"type,omitempty"`
	Label               string             `json:"label,omitempty"`
	Artist              string             `json:"artist,omitempty"`
	Artists             []JSONArtist       `json:"artists,omitempty"`
	PLine               string             `json:"pLine,omitempty"`
	CLine               string             `json:"cLine,omitempty"`
	Genre               string             `json:"genre,omitempty"`
	ParentalWarning     string             `json:"parentalWarning,omitempty"`
	ReleaseDate         string             `json:"releaseDate,omitempty"`
	OriginalReleaseDate string             `json:"originalReleaseDate,omitempty"`
	Tracks              []JSONTrack        `json:"tracks,omitempty"`
	Deals               []JSONDeal         `json:"deals,omitempty"`
	Availability        []JSONAvailability `json:"availability,omitempty"`
}

// JSONPurge names the release to remove.
type JSONPurge struct {
	UPC  string `json:"upc,omitempty"`
	GRid string `json:"grid,omitempty"`
}

// JSONArtist is a credited artist.
type JSONArtist struct {
	Name string `json:"name"`
	Role string `json:"role,omitempty"`
}

// JSONTrack is one track.
type JSONTrack struct {
	ISRC            string       `json:"isrc"`
	Title           string       `json:"title"`
	Version         string       `json:"version,omitempty"`
	Artist          string       `json:"artist,omitempty"`
	Artists         []JSONArtist `json:"artists,omitempty"`
	Duration        string       `json:"duration"`
	Disc            int          `json:"disc"`
	Number          int          `json:"number"`
	PLine           string       `json:"pLine,omitempty"`
	ParentalWarning string       `json:"parentalWarning,omitempty"`
}

// JSONDeal is one deal, as in ERN (docs/deals.md).
type JSONDeal struct {
	Track               string     `json:"track,omitempty"`
	Territories         []string   `json:"territories,omitempty"`
	ExcludedTerritories []string   `json:"excludedTerritories,omitempty"`
	UseTypes            []string   `json:"useTypes,omitempty"`
	CommercialModels    []string   `json:"commercialModels,omitempty"`
	Start               string     `json:"start,omitempty"`
	End                 string     `json:"end,omitempty"`
	Price               *JSONPrice `json:"price,omitempty"`
	TakeDown            bool       `json:"takeDown,omitempty"`
}

// JSONPrice is a deal's price.
type JSONPrice struct {
	Amount   string `json:"amount,omitempty"`
	Currency string `json:"currency,omitempty"`
	Code     string `json:"code,omitempty"`
}

// JSONAvailability is a shorthand for the two most common deals in one
// territory: Download is the start of a PermanentDownload deal under
// PayAsYouGoModel, Streaming the start of an OnDemandStream deal under
// SubscriptionModel.
type JSONAvailability struct {
	Territory string `json:"territory"`
	Download  string `json:"download,omitempty"`
	Streaming string `json:"streaming,omitempty"`
}

func artists(in []JSONArtist) []release.DraftArtist {
	out := make([]release.DraftArtist, len(in))
	for i, a := range in {
		out[i] = release.DraftArtist(a)
	}
	return out
}

// message reads the message fields; a creation time must carry its zone.
func (j JSONRelease) message() (release.Message, []release.Problem) {
	m := release.Message{Sender: j.Sender, ID: j.MessageID, Test: j.Test, OnBehalfOf: j.SentOnBehalfOf}
	if j.Recipient != "" {
		m.Recipients = []string{j.Recipient}
	}
	if j.MessageCreated == "" {
		return m, nil
	}
	t, err := time.Parse(time.RFC3339Nano, j.MessageCreated)
	if err != nil {
		reason := fmt.Sprintf("%s is not an RFC 3339 date-time such as 2024-10-02T10:10:32Z", release.Quote(j.MessageCreated))
		if _, err2 := time.Parse("2006-01-02T15:04:05.999999999", j.MessageCreated); err2 == nil {
			reason = fmt.Sprintf("%s has no time zone; add Z or an offset", release.Quote(j.MessageCreated))
		}
		return m, []release.Problem{{Field: "messageCreated", Reason: reason}}
	}
	m.Created = t
	return m, nil
}

// Draft converts a release delivery to the domain's input form.
func (j JSONRelease) Draft() release.Draft {
	m, _ := j.message()
	d := release.Draft{
		Message: m, UPC: j.UPC, GRid: j.GRid, CatalogNumber: j.CatalogNumber, Title: j.Title, Version: j.Version, Type: j.Type,
		Label: j.Label, Artist: j.Artist, Artists: artists(j.Artists), PLine: j.PLine, CLine: j.CLine, Genre: j.Genre,
		ParentalWarning: j.ParentalWarning, ReleaseDate: j.ReleaseDate, OriginalReleaseDate: j.OriginalReleaseDate,
	}
	for _, t := range j.Tracks {
		d.Tracks = append(d.Tracks, release.DraftTrack{ISRC: t.ISRC, Title: t.Title, Version: t.Version, Artist: t.Artist,
			Artists: artists(t.Artists), Duration: t.Duration, Disc: t.Disc, Number: t.Number, PLine: t.PLine, ParentalWarning: t.ParentalWarning})
	}
	for _, x := range j.Deals {
		dd := release.DraftDeal{Track: x.Track, Territories: x.Territories, ExcludedTerritories: x.ExcludedTerritories,
			UseTypes: x.UseTypes, CommercialModels: x.CommercialModels, Start: x.Start, End: x.End, TakeDown: x.TakeDown}
		if x.Price != nil {
			dd.PriceAmount, dd.PriceCurrency, dd.PriceCode = x.Price.Amount, x.Price.Currency, x.Price.Code
		}
		d.Deals = append(d.Deals, dd)
	}
	d.Source = map[string]string{}
	for i, a := range j.Availability {
		at := fmt.Sprintf("availability[%d]", i)
		if a.Download != "" {
			k := len(d.Deals)
			d.Deals = append(d.Deals, release.DraftDeal{Territories: []string{a.Territory}, UseTypes: []string{"PermanentDownload"},
				CommercialModels: []string{"PayAsYouGoModel"}, Start: a.Download})
			d.Source[fmt.Sprintf("deals[%d].territories[0]", k)] = at + ".territory"
			d.Source[fmt.Sprintf("deals[%d].start", k)] = at + ".download"
		}
		if a.Streaming != "" {
			k := len(d.Deals)
			d.Deals = append(d.Deals, release.DraftDeal{Territories: []string{a.Territory}, UseTypes: []string{"OnDemandStream"},
				CommercialModels: []string{"SubscriptionModel"}, Start: a.Streaming})
			d.Source[fmt.Sprintf("deals[%d].territories[0]", k)] = at + ".territory"
			d.Source[fmt.Sprintf("deals[%d].start", k)] = at + ".streaming"
		}
	}
	return d
}

// Delivery is a parsed delivery: a release or a purge.
type Delivery struct {
	Release *release.Draft
	Purge   *release.PurgeDraft
	// Override applies the delivery as an operator override: whoever owns
	// the release, and the parties the delivery speaks for become its
	// owners. Parsers never set it; only operator tools do
	// (catalog ingest --override-owner).
	Override bool
}

// ParseJSON reads one JSON delivery strictly: unknown fields, wrong types,
// trailing data, malformed JSON and a creation time without a zone are all
// problems that name the field.
func ParseJSON(data []byte) (Delivery, error) {
	var j JSONRelease
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Delivery{}, &release.ValidationError{Problems: []release.Problem{jsonProblem(err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Delivery{}, &release.ValidationError{Problems: []release.Problem{{Field: "(body)", Reason: "unexpected data after the delivery object"}}}
	}
	m, ps := j.message()
	var extra []release.Problem
	for _, a := range j.Availability {
		if a.Download == "" && a.Streaming == "" {
			extra = append(extra, release.Problem{Field: "availability", Reason: fmt.Sprintf("territory %s needs a download or a streaming date", release.Quote(a.Territory))})
		}
	}
	if ps = append(ps, extra...); len(ps) > 0 {
		return Delivery{}, &release.ValidationError{Message: m, Problems: ps}
	}
	if j.Purge != nil {
		if j.UPC != "" || j.GRid != "" || j.Title != "" || len(j.Tracks) > 0 || len(j.Deals) > 0 || len(j.Availability) > 0 {
			return Delivery{}, &release.ValidationError{Message: m, Problems: []release.Problem{{Field: "purge",
				Reason: "a purge names only the release to remove (purge.upc or purge.grid), nothing else"}}}
		}
		return Delivery{Purge: &release.PurgeDraft{Message: m, UPC: j.Purge.UPC, GRid: j.Purge.GRid,
			Source: map[string]string{"upc": "purge.upc", "grid": "purge.grid"}}}, nil
	}
	d := j.Draft()
	return Delivery{Release: &d}, nil
}

func jsonProblem(err error) release.Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return release.Problem{Field: "(body)", Reason: "is empty; a JSON delivery object is required"}
	case errors.As(err, &syn):
		return release.Problem{Field: "(body)", Reason: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return release.Problem{Field: field, Reason: fmt.Sprintf("must be a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), release.Clip(typ.Value))}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" {
			return release.Problem{Field: "(body)", Reason: `has a field with an empty name (""), which is not a field of the delivery format`}
		}
		return release.Problem{Field: release.Clip(name), Reason: "is not a field of the delivery format"}
	default:
		return release.Problem{Field: "(body)", Reason: release.Clip(err.Error())}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "integer"
	case "slice":
		return "array"
	case "struct", "ptr":
		return "object"
	default:
		return goKind
	}
}

// EncodeJSON writes j as indented JSON.
func EncodeJSON(j JSONRelease) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(j); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

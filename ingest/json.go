package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/catalog-org/catalog/domain/release"
)

// JSONRelease is the documented JSON delivery format (docs/ingest-json.md).
type JSONRelease struct {
	// MessageID names the delivery; generated when empty.
	MessageID    string             `json:"messageId,omitempty"`
	UPC          string             `json:"upc"`
	Title        string             `json:"title"`
	Artist       string             `json:"artist"`
	Label        string             `json:"label"`
	Tracks       []JSONTrack        `json:"tracks"`
	Availability []JSONAvailability `json:"availability"`
}

// JSONTrack is one track of a JSONRelease.
type JSONTrack struct {
	ISRC     string `json:"isrc"`
	Title    string `json:"title"`
	Artist   string `json:"artist,omitempty"`
	Duration string `json:"duration"`
	Disc     int    `json:"disc"`
	Number   int    `json:"number"`
}

// JSONAvailability gives a territory's download and streaming start dates.
type JSONAvailability struct {
	Territory string `json:"territory"`
	Download  string `json:"download,omitempty"`
	Streaming string `json:"streaming,omitempty"`
}

// Draft converts the delivery to the domain's input form.
func (j JSONRelease) Draft() release.Draft {
	d := release.Draft{UPC: j.UPC, Title: j.Title, Artist: j.Artist, Label: j.Label}
	for _, t := range j.Tracks {
		d.Tracks = append(d.Tracks, release.DraftTrack(t))
	}
	for _, a := range j.Availability {
		d.Availability = append(d.Availability, release.DraftAvailability(a))
	}
	return d
}

// DecodeJSON reads one JSONRelease strictly: unknown fields, wrong types,
// trailing data and malformed JSON are all problems that name the field.
func DecodeJSON(r io.Reader) (JSONRelease, error) {
	var j JSONRelease
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return JSONRelease{}, &release.ValidationError{Problems: []release.Problem{jsonProblem(err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return JSONRelease{}, &release.ValidationError{Problems: []release.Problem{{Field: "(body)", Reason: "unexpected data after the release object"}}}
	}
	return j, nil
}

func jsonProblem(err error) release.Problem {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return release.Problem{Field: "(body)", Reason: "is empty; a JSON release object is required"}
	case errors.As(err, &syn):
		return release.Problem{Field: "(body)", Reason: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(body)"
		}
		return release.Problem{Field: field, Reason: fmt.Sprintf("must be a JSON %s, got %s", jsonKind(typ.Type.Kind().String()), typ.Value)}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return release.Problem{Field: name, Reason: "is not a field of the release format"}
	default:
		return release.Problem{Field: "(body)", Reason: err.Error()}
	}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64", "int32":
		return "integer"
	case "slice":
		return "array"
	case "struct":
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

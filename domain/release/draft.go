package release

import "time"

// Message identifies a delivery: who sent it, its id, and when it was
// created. Created orders the messages about one release: a message older
// than the one already applied changes nothing.
type Message struct {
	// Sender is the sending party (a DDEX DPID, or a name).
	Sender string
	// ID is the sender's message id; sender and ID together name the delivery.
	ID string
	// Created is when the sender created the message. Zero means "now".
	Created time.Time
	// Test marks a test message (DDEX MessageControlType TestMessage).
	Test bool
	// OnBehalfOf is the party the sender delivers for (DDEX
	// SentOnBehalfOf: its DPID, or a name), if it names one.
	OnBehalfOf string `json:",omitempty"`
	// Recipients are the party ids the message is addressed to (DDEX
	// MessageRecipient/PartyId); ingest checks them against catalog's own.
	// They are not kept in the write-side state.
	Recipients []string `json:"-"`
}

// Parties returns the parties a delivery speaks for, the ones ownership is
// checked against: the sender and the party it sends on behalf of, without
// duplicates. A message without a sender (the JSON form allows it) speaks
// for the anonymous party "".
func (m Message) Parties() []string {
	out := []string{m.Sender}
	if m.OnBehalfOf != "" && m.OnBehalfOf != m.Sender {
		out = append(out, m.OnBehalfOf)
	}
	return out
}

// Name returns "sender/id", the way rejections name a message.
func (m Message) Name() string {
	if m.Sender == "" {
		return m.ID
	}
	return m.Sender + "/" + m.ID
}

// Draft is a release delivery as it arrives at the edge, in primitive types,
// whatever its format (DDEX ERN or JSON). New validates it into a Release.
//
// Source maps a Draft field (as New names it in problems, e.g. "upc",
// "tracks[2].isrc", "deals[0].territories[3]") to where it came from in the
// delivery (e.g. an ERN element path); problems name that place when known.
type Draft struct {
	Message Message

	UPC           string
	GRid          string
	CatalogNumber string

	Title   string
	Version string
	// Type is the release type (Album, Single, EP, ...).
	Type string
	// Label is the label name.
	Label string
	// Artist is the display artist string; Artists are the credited artists.
	Artist              string
	Artists             []DraftArtist
	PLine               string
	CLine               string
	Genre               string
	ParentalWarning     string
	ReleaseDate         string
	OriginalReleaseDate string

	Tracks []DraftTrack
	Deals  []DraftDeal

	Source map[string]string
}

// DraftArtist is a credited artist and its role (MainArtist, FeaturedArtist, ...).
type DraftArtist struct {
	Name string
	Role string
}

// DraftTrack is one track of a Draft. Artist defaults to the release's
// display artist; Duration is an ISO 8601 duration.
type DraftTrack struct {
	ISRC            string
	Title           string
	Version         string
	Artist          string
	Artists         []DraftArtist
	Duration        string
	Disc            int
	Number          int
	PLine           string
	ParentalWarning string
}

// DraftDeal is one deal: the usages (use types under commercial models)
// granted in some territories during a window, at a price. Track is the
// ISRC of the track the deal is for, or empty for the release as a whole.
// Territories may hold "Worldwide"; ExcludedTerritories means "everywhere
// except these". Start and End are dates (2006-01-02) or date-times with a
// time zone (a date-time without one is read as UTC). A TakeDown deal
// withdraws everything in its territories.
type DraftDeal struct {
	Track               string
	Territories         []string
	ExcludedTerritories []string
	UseTypes            []string
	CommercialModels    []string
	Start               string
	End                 string
	PriceAmount         string
	PriceCurrency       string
	PriceCode           string
	TakeDown            bool
}

// PurgeDraft asks for a release to be removed entirely, by UPC or GRid.
type PurgeDraft struct {
	Message Message
	UPC     string
	GRid    string
	Source  map[string]string
}

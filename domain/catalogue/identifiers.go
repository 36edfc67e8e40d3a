package catalogue

// IdentifiedRelease is a release as partners find it by an industry
// identifier (UPC/EAN/GTIN, GRid, DDEX party id): its metadata, the
// parties it belongs to and its tracklist (empty in a page of a party's
// releases).
type IdentifiedRelease struct {
	Release
	// Owners are the DDEX parties the release belongs to.
	Owners []string
	// Tracks are its tracks in disc and track order.
	Tracks []IdentifiedTrack
}

// IdentifiedTrack is a track on a release as the identifiers read model
// knows it.
type IdentifiedTrack struct {
	ID              int64
	ReleaseID       int64
	ISRC            string
	Title           string
	Version         string
	Artist          string
	DurationSeconds int
	Disc            int
	Number          int
}

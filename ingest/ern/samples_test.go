package ern_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest/ern"
)

// samplesDir holds the public DDEX samples shared with the project (see
// its SOURCES.md). They are read in place, never copied into testdata.
const samplesDir = "../../../shared/reference/ddex/samples"

// sample parses one sample, skipping the test when the folder is absent.
func sample(t *testing.T, name string) ern.Parsed {
	t.Helper()
	if _, err := os.Stat(samplesDir); err != nil {
		t.Skipf("DDEX samples folder %s is absent (%v); skipping sample tests", samplesDir, err)
	}
	data, err := os.ReadFile(filepath.Join(samplesDir, name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	p, err := ern.Parse(data)
	if err != nil {
		t.Fatalf("Parse(%s) = %v", name, err)
	}
	return p
}

// newRelease parses a sample that must be a NewReleaseMessage.
func newRelease(t *testing.T, name, version string) *release.Draft {
	t.Helper()
	p := sample(t, name)
	if p.Release == nil || p.Purge != nil {
		t.Fatalf("Parse(%s): Release = %v, Purge = %v; want a release only", name, p.Release, p.Purge)
	}
	check(t, "version", p.Version, version)
	return p.Release
}

func check[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func checkSlice(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func checkMessage(t *testing.T, got release.Message, sender, id, created string) {
	t.Helper()
	want, err := time.Parse(time.RFC3339Nano, created)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "message sender", got.Sender, sender)
	check(t, "message id", got.ID, id)
	if !got.Created.Equal(want) {
		t.Errorf("message created = %v, want %v", got.Created, want)
	}
}

// trackWant is what a test expects of one track.
type trackWant struct {
	index                  int
	isrc, title, duration  string
	disc, number           int
	version, artist, pline string
}

func checkTracks(t *testing.T, d *release.Draft, count int, want ...trackWant) {
	t.Helper()
	if len(d.Tracks) != count {
		t.Fatalf("%d tracks, want %d", len(d.Tracks), count)
	}
	for _, w := range want {
		got := d.Tracks[w.index]
		check(t, "track isrc", got.ISRC, w.isrc)
		check(t, "track title", got.Title, w.title)
		check(t, "track duration", got.Duration, w.duration)
		check(t, "track disc", got.Disc, w.disc)
		check(t, "track number", got.Number, w.number)
		check(t, "track version", got.Version, w.version)
		if w.artist != "" {
			check(t, "track artist", got.Artist, w.artist)
		}
		if w.pline != "" {
			check(t, "track pline", got.PLine, w.pline)
		}
	}
}

func TestSampleDDEXAudioAlbum382(t *testing.T) {
	d := newRelease(t, "ern382_ddex-crt14_Profile_AudioAlbumMusicOnly.xml", "3.8.2") // CRLF file
	checkMessage(t, d.Message, "DPID_OF_THE_SENDER", "MESSAGE01", "2012-12-11T15:50:00Z")
	check(t, "test message", d.Message.Test, false)
	check(t, "upc", d.UPC, "")
	check(t, "grid", d.GRid, "A1UCASE0000000401X")
	check(t, "title", d.Title, "A Monkey Claw in a Velvet Glove")
	check(t, "type", d.Type, "Album")
	check(t, "label", d.Label, "Iron Crown Music")
	check(t, "artist", d.Artist, "Monkey Claw")
	check(t, "pline", d.PLine, "(P) 2010 Iron Crown Music")
	check(t, "cline", d.CLine, "(C) 2010 Iron Crown Music")
	check(t, "genre", d.Genre, "Metal")
	check(t, "release date", d.ReleaseDate, "2010-01-01")
	check(t, "original release date", d.OriginalReleaseDate, "2010-10-01") // Release/GlobalOriginalReleaseDate
	checkTracks(t, d, 6,
		trackWant{index: 0, isrc: "CASE00000001", title: "Can you feel ...the Monkey Claw!", duration: "PT13M31S", disc: 1, number: 1, artist: "Monkey Claw"},
		trackWant{index: 2, isrc: "CASE00000003", title: "Seige of Antioch", duration: "PT21M9S", disc: 1, number: 3},
		trackWant{index: 5, isrc: "CASE00000006", title: "Yes... I can feel the Monkey Claw!", duration: "PT12M21S", disc: 1, number: 6, pline: "(P) 2010 Iron Crown Music"},
	)
	check(t, "deals (no DealList)", len(d.Deals), 0)
	check(t, "source of grid", d.Source["grid"], "/NewReleaseMessage/ReleaseList/Release[1]/ReleaseId/GRid")
	check(t, "source of tracks[2].number", d.Source["tracks[2].number"],
		"/NewReleaseMessage/ReleaseList/Release[1]/ReleaseDetailsByTerritory/ResourceGroup/ResourceGroup/ResourceGroupContentItem[3]/SequenceNumber")
	check(t, "source of tracks[2].disc", d.Source["tracks[2].disc"],
		"/NewReleaseMessage/ReleaseList/Release[1]/ReleaseDetailsByTerritory/ResourceGroup/ResourceGroup/SequenceNumber")
}

func TestSampleUTF8Album382(t *testing.T) {
	d := newRelease(t, "ern382_016_utf8_artists_album.xml", "3.8.2")
	checkMessage(t, d.Message, "PADPIDA20010101001", "202101010101010101001", "2021-09-29T06:38:37-04:00")
	check(t, "upc", d.UPC, "763331950658")
	check(t, "catalog number", d.CatalogNumber, "BDN0208")
	// No Release is marked IsMainRelease: the main one is the first that is
	// not a TrackRelease, R0, listed after the twelve track releases.
	check(t, "title", d.Title, "12 zlatnih kola")
	check(t, "type", d.Type, "Album")
	check(t, "label", d.Label, "JD Production")
	check(t, "artist", d.Artist, "Various Artists")
	check(t, "source of upc", d.Source["upc"], "/NewReleaseMessage/ReleaseList/Release[13]/ReleaseId/ICPN")
	checkTracks(t, d, 12,
		trackWant{index: 0, isrc: "BAA052029415", title: "Sanela kolo", duration: "PT3M08S", disc: 1, number: 1, artist: "Mirko Kordić"},
		trackWant{index: 2, isrc: "BAA052029417", title: "Zvečansko kolo", duration: "PT3M36S", disc: 1, number: 3, artist: "Aca Šišić"},
		trackWant{index: 11, isrc: "BAA052029426", title: "Adranski vez", duration: "PT4M05S", disc: 1, number: 12, artist: "Dragan Živković"},
	)
	// 13 ReleaseDeals (album + 12 tracks) × 2 Deals.
	if len(d.Deals) != 26 {
		t.Fatalf("%d deals, want 26", len(d.Deals))
	}
	album, track1 := d.Deals[1], d.Deals[2]
	check(t, "album deal track", album.Track, "")
	checkSlice(t, "album deal territories", album.Territories, []string{"Worldwide"})
	checkSlice(t, "album deal use types", album.UseTypes, []string{"ConditionalDownload", "OnDemandStream"})
	checkSlice(t, "album deal models", album.CommercialModels, []string{"SubscriptionModel"})
	check(t, "album deal start (no time zone, passed as found)", album.Start, "2020-10-26T00:00:00")
	check(t, "track deal track", track1.Track, "BAA052029415")
	checkSlice(t, "track deal use types", track1.UseTypes, []string{"PermanentDownload"})
	checkSlice(t, "track deal models", track1.CommercialModels, []string{"PayAsYouGoModel"})
	check(t, "last deal track", d.Deals[25].Track, "BAA052029426")
	check(t, "source of deals[3].useTypes[1]", d.Source["deals[3].useTypes[1]"],
		"/NewReleaseMessage/DealList/ReleaseDeal[2]/Deal[2]/DealTerms/Usage/UseType[2]")
}

func TestSampleOrchardAlbum382(t *testing.T) {
	d := newRelease(t, "ern382_orchard_album_jp.xml", "3.8.2")
	checkMessage(t, d.Message, "PADPIDA2012041004F", "6240784_20251208_023222", "2025-12-08T02:32:22Z")
	check(t, "upc", d.UPC, "199806591208")
	check(t, "title", d.Title, "ハ\u30b0！")
	check(t, "type", d.Type, "Album")
	check(t, "label", d.Label, "KAWAII LAB.")
	check(t, "artist", d.Artist, "MORE STAR")
	check(t, "original release date", d.OriginalReleaseDate, "2025-12-13")
	// The recordings spell the title decomposed (ク + U+3099 combining
	// dakuten), the release composed (グ); values pass through unnormalised.
	const decomposed = "ハク\u3099！"
	checkTracks(t, d, 2,
		trackWant{index: 0, isrc: "JPR842500194", title: decomposed, duration: "PT0H3M8S", disc: 1, number: 1, artist: "MORE STAR"},
		trackWant{index: 1, isrc: "JPR842500195", title: decomposed, version: "Instrumental", duration: "PT0H3M8S", disc: 1, number: 2},
	)
	// Display artists keep their roles, including a composer credited as one.
	want := []release.DraftArtist{{Name: "MORE STAR", Role: "MainArtist"}, {Name: "Haruki Kinpara", Role: "Composer"}}
	if !slices.Equal(d.Tracks[0].Artists, want) {
		t.Errorf("track artists = %v, want %v", d.Tracks[0].Artists, want)
	}
	if len(d.Deals) != 6 {
		t.Fatalf("%d deals, want 6", len(d.Deals))
	}
	for i, deal := range d.Deals {
		checkSlice(t, "deal territories", deal.Territories, []string{"JP"})
		check(t, "deal start", deal.Start, "2025-12-13")
		check(t, "deal takedown", deal.TakeDown, false)
		wantTrack := []string{"", "", "JPR842500194", "JPR842500194", "JPR842500195", "JPR842500195"}[i]
		check(t, "deal track", deal.Track, wantTrack)
	}
	checkSlice(t, "stream deal use types", d.Deals[1].UseTypes, []string{"NonInteractiveStream", "OnDemandStream"})
	checkSlice(t, "download deal models", d.Deals[4].CommercialModels, []string{"PayAsYouGoModel"})
}

func TestSampleOrchardTakedown382(t *testing.T) {
	d := newRelease(t, "ern382_orchard_single_takedown_update.xml", "3.8.2")
	checkMessage(t, d.Message, "PADPIDA2012041004F", "2417334_20241002_101032", "2024-10-02T10:10:32Z")
	check(t, "upc", d.UPC, "5710261026118")
	check(t, "title", d.Title, "Allez Allez Allez")
	check(t, "type", d.Type, "Single")
	check(t, "label", d.Label, "Technica")
	check(t, "artist", d.Artist, "Technica")
	checkTracks(t, d, 1,
		trackWant{index: 0, isrc: "DKFD52275001", title: "Allez Allez Allez", duration: "PT0H3M8S", disc: 1, number: 1, pline: "(P) 2016 Technica"},
	)
	if len(d.Deals) != 2 {
		t.Fatalf("%d deals, want 2", len(d.Deals))
	}
	for i, wantTrack := range []string{"", "DKFD52275001"} {
		deal := d.Deals[i]
		check(t, "takedown", deal.TakeDown, true)
		check(t, "deal track", deal.Track, wantTrack)
		checkSlice(t, "deal territories", deal.Territories, []string{"JP"})
		check(t, "deal start", deal.Start, "2019-01-14")
		check(t, "deal use types", len(deal.UseTypes), 0)
	}
}

func TestSamplePurge382(t *testing.T) {
	p := sample(t, "ern382_audius_03_delete_purge.xml")
	if p.Purge == nil || p.Release != nil {
		t.Fatalf("Purge = %v, Release = %v; want a purge only", p.Purge, p.Release)
	}
	check(t, "version", p.Version, "3.8.2")
	checkMessage(t, p.Purge.Message, "PADPIDA1234567890", "MessageID5680", "2024-04-02T07:00:00Z")
	check(t, "grid", p.Purge.GRid, "A1B2C3D4E5F6G7H8I9J0K1L2M3N4O5P6Q7R8S9T0")
	check(t, "upc", p.Purge.UPC, "")
	check(t, "source of grid", p.Purge.Source["grid"], "/PurgeReleaseMessage/PurgedRelease/ReleaseId/GRid")
}

func TestSampleAudioAlbum43(t *testing.T) {
	d := newRelease(t, "ern43_1_Audio.xml", "4.3")
	checkMessage(t, d.Message, "PADPIDA2013042401U", "Test1.1", "2014-09-24T14:57:25+01:00")
	check(t, "upc (leading zeros kept)", d.UPC, "00094631432057")
	check(t, "title (IsDefault display title)", d.Title, "Yume no Hajmari")
	check(t, "type", d.Type, "Album")
	check(t, "label (PartyList)", d.Label, "EMI MUSIC JAPAN INC.")
	check(t, "artist (IsDefault name)", d.Artist, "Saeko Shu")
	check(t, "genre", d.Genre, "J-Pop")
	check(t, "parental warning", d.ParentalWarning, "NoAdviceAvailable")
	want := []release.DraftArtist{{Name: "Saeko Shu", Role: "MainArtist"}}
	if !slices.Equal(d.Artists, want) {
		t.Errorf("artists = %v, want %v", d.Artists, want)
	}
	checkTracks(t, d, 21,
		trackWant{index: 0, isrc: "JPTO09404900", title: "Yume no Lullaby", duration: "PT2M28S", disc: 1, number: 1,
			artist: "Saeko Shu", pline: "(P) 1994 EMI Music Japan Inc."},
		trackWant{index: 1, isrc: "JPTO09404910", title: "Yume no Hajimari - Kaze no Okuri Mono (Introduction)", duration: "PT1M42S", disc: 1, number: 2},
		trackWant{index: 20, isrc: "JPTO09332830", title: "Kitto Shiawase (NHK Minna no Uta)", duration: "PT3M46S", disc: 1, number: 21},
	)
	check(t, "source of tracks[0].isrc", d.Source["tracks[0].isrc"],
		"/NewReleaseMessage/ResourceList/SoundRecording[1]/SoundRecordingEdition/ResourceId/ISRC")
	check(t, "source of label", d.Source["label"], "/NewReleaseMessage/PartyList/Party[2]/PartyName/FullName")

	// One ReleaseDeal for R1…R21 with 2 Deals, one for the album R0.
	if len(d.Deals) != 43 {
		t.Fatalf("%d deals, want 43", len(d.Deals))
	}
	stream, download, album := d.Deals[0], d.Deals[1], d.Deals[42]
	check(t, "first deal track", stream.Track, "JPTO09404900")
	checkSlice(t, "stream territories", stream.Territories, []string{"JP"})
	check(t, "stream start", stream.Start, "2004-04-01")
	checkSlice(t, "stream use types", stream.UseTypes, []string{"ConditionalDownload", "Stream"})
	checkSlice(t, "stream models", stream.CommercialModels, []string{"SubscriptionModel", "AdvertisementSupportedModel"})
	check(t, "stream price code", stream.PriceCode, "")
	check(t, "download price code", download.PriceCode, "AAAA")
	checkSlice(t, "download use types", download.UseTypes, []string{"PermanentDownload", "ConditionalDownload"})
	check(t, "deal 40 track", d.Deals[40].Track, "JPTO09332830")
	check(t, "album deal track", album.Track, "")
	check(t, "album price code", album.PriceCode, "AAAA")
	check(t, "album price amount", album.PriceAmount, "")
	check(t, "source of deals[42].price", d.Source["deals[42].price"],
		"/NewReleaseMessage/DealList/ReleaseDeal[2]/Deal/DealTerms/PriceInformation/PriceCode")
}

func TestSampleSimpleAudioSingle43(t *testing.T) {
	d := newRelease(t, "ern43_4_SimpleAudioSingle.xml", "4.3")
	checkMessage(t, d.Message, "PADPIDA2007050901U", "W83814161", "2017-04-25T15:00:29.947Z")
	check(t, "upc", d.UPC, "")
	check(t, "grid", d.GRid, "A10302B0003989564F")
	// DisplayTitle/TitleText is preferred over DisplayTitleText ("RIOPY: I Love You").
	check(t, "title", d.Title, "I Love You")
	check(t, "type (first ReleaseType)", d.Type, "SingleResourceRelease")
	check(t, "label (IsDefault reference)", d.Label, "Warner Classics")
	check(t, "artist", d.Artist, "RIOPY")
	check(t, "cline", d.CLine, "2017 Parlophone Records Limited, a Warner Music Group Company")
	checkTracks(t, d, 1,
		trackWant{index: 0, isrc: "GBAYC1700598", title: "I Love You", duration: "PT4M23.583S", disc: 1, number: 1, artist: "RIOPY"},
	)
	// 249 territories × 3 deals, all for the single itself.
	if len(d.Deals) != 747 {
		t.Fatalf("%d deals, want 747", len(d.Deals))
	}
	first, last := d.Deals[0], d.Deals[746]
	checkSlice(t, "first territories", first.Territories, []string{"AD"})
	check(t, "first start", first.Start, "2017-04-25")
	checkSlice(t, "first models", first.CommercialModels, []string{"AdvertisementSupportedModel"})
	checkSlice(t, "first use types", first.UseTypes, []string{"NonInteractiveStream", "OnDemandStream"})
	checkSlice(t, "last territories", last.Territories, []string{"ZW"})
	checkSlice(t, "last use types", last.UseTypes, []string{"PermanentDownload"})
	for _, deal := range d.Deals {
		if deal.Track != "" || deal.TakeDown {
			t.Fatalf("deal %+v: want a release-wide, non-takedown deal", deal)
		}
	}
}

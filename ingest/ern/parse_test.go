package ern_test

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/ingest/ern"
)

// minimal382 is a small valid ERN 3.8.2 NewReleaseMessage.
const minimal382 = `<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/382" MessageSchemaVersionId="ern/382">
  <MessageHeader>
    <MessageId>M382</MessageId>
    <MessageSender><PartyId>PADPIDA0000000001A</PartyId></MessageSender>
    <MessageCreatedDateTime>2024-01-02T03:04:05Z</MessageCreatedDateTime>
  </MessageHeader>
  <ResourceList>
    <SoundRecording>
      <SoundRecordingId><ISRC>USAAA2400001</ISRC></SoundRecordingId>
      <ResourceReference>A1</ResourceReference>
      <ReferenceTitle><TitleText>Song</TitleText></ReferenceTitle>
      <Duration>PT3M</Duration>
    </SoundRecording>
  </ResourceList>
  <ReleaseList>
    <Release IsMainRelease="true">
      <ReleaseId><ICPN>036000291452</ICPN></ReleaseId>
      <ReleaseReference>R0</ReleaseReference>
      <ReferenceTitle><TitleText>Single</TitleText></ReferenceTitle>
      <ReleaseResourceReferenceList>
        <ReleaseResourceReference ReleaseResourceType="PrimaryResource">A1</ReleaseResourceReference>
      </ReleaseResourceReferenceList>
      <ReleaseType>Single</ReleaseType>
      <ReleaseDetailsByTerritory>
        <TerritoryCode>Worldwide</TerritoryCode>
        <DisplayArtistName>Artist</DisplayArtistName>
        <LabelName>Label</LabelName>
      </ReleaseDetailsByTerritory>
    </Release>
  </ReleaseList>
  <DealList>
    <ReleaseDeal>
      <DealReleaseReference>R0</DealReleaseReference>
      <Deal>
        <DealTerms>
          <CommercialModelType>PayAsYouGoModel</CommercialModelType>
          <Usage><UseType>PermanentDownload</UseType></Usage>
          <TerritoryCode>Worldwide</TerritoryCode>
          <ValidityPeriod><StartDate>2024-01-01</StartDate></ValidityPeriod>
        </DealTerms>
      </Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
`

// minimal43 is a small valid ERN 4.3 NewReleaseMessage with a track release.
const minimal43 = `<?xml version="1.0" encoding="UTF-8"?>
<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" AvsVersionId="4" LanguageAndScriptCode="en">
  <MessageHeader>
    <MessageId>M43</MessageId>
    <MessageSender><PartyId>PADPIDA0000000001A</PartyId></MessageSender>
    <MessageCreatedDateTime>2024-05-06T07:08:09.5+02:00</MessageCreatedDateTime>
    <MessageControlType>TestMessage</MessageControlType>
  </MessageHeader>
  <PartyList>
    <Party><PartyReference>PArtist</PartyReference><PartyName><FullName>The Artist</FullName></PartyName></Party>
    <Party><PartyReference>PLabel</PartyReference><PartyName><FullName>The Label</FullName></PartyName></Party>
  </PartyList>
  <ResourceList>
    <SoundRecording>
      <ResourceReference>A1</ResourceReference>
      <Type>MusicalWorkSoundRecording</Type>
      <SoundRecordingEdition><ResourceId><ISRC>USAAA2400001</ISRC></ResourceId></SoundRecordingEdition>
      <DisplayTitleText>Song</DisplayTitleText>
      <DisplayTitle><TitleText>Song</TitleText></DisplayTitle>
      <DisplayArtist SequenceNumber="1"><ArtistPartyReference>PArtist</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <Duration>PT3M</Duration>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
    </SoundRecording>
  </ResourceList>
  <ReleaseList>
    <Release>
      <ReleaseReference>R0</ReleaseReference>
      <ReleaseType>Single</ReleaseType>
      <ReleaseId><ICPN>036000291452</ICPN></ReleaseId>
      <DisplayTitleText>Single</DisplayTitleText>
      <DisplayTitle><TitleText>Single</TitleText></DisplayTitle>
      <DisplayArtist SequenceNumber="1"><ArtistPartyReference>PArtist</ArtistPartyReference><DisplayArtistRole>MainArtist</DisplayArtistRole></DisplayArtist>
      <ReleaseLabelReference>PLabel</ReleaseLabelReference>
      <ParentalWarningType>NotExplicit</ParentalWarningType>
      <ResourceGroup>
        <ResourceGroupContentItem><SequenceNumber>1</SequenceNumber><ReleaseResourceReference>A1</ReleaseResourceReference></ResourceGroupContentItem>
      </ResourceGroup>
    </Release>
    <TrackRelease><ReleaseReference>R1</ReleaseReference><ReleaseResourceReference>A1</ReleaseResourceReference></TrackRelease>
  </ReleaseList>
  <DealList>
    <ReleaseDeal>
      <DealReleaseReference>R0</DealReleaseReference>
      <DealReleaseReference>R1</DealReleaseReference>
      <Deal>
        <DealTerms>
          <TerritoryCode>US</TerritoryCode>
          <ValidityPeriod><StartDate>2024-06-01</StartDate></ValidityPeriod>
          <CommercialModelType>SubscriptionModel</CommercialModelType>
          <UseType>OnDemandStream</UseType>
        </DealTerms>
      </Deal>
    </ReleaseDeal>
  </DealList>
</ern:NewReleaseMessage>
`

// minimalPurge is a small valid ERN 4.3 PurgeReleaseMessage.
const minimalPurge = `<?xml version="1.0" encoding="UTF-8"?>
<ern:PurgeReleaseMessage xmlns:ern="http://ddex.net/xml/ern/43" AvsVersionId="4" LanguageAndScriptCode="en">
  <MessageHeader>
    <MessageId>P1</MessageId>
    <MessageSender><PartyName><FullName>Some Label</FullName></PartyName></MessageSender>
    <MessageCreatedDateTime>2024-01-02T03:04:05Z</MessageCreatedDateTime>
  </MessageHeader>
  <PurgedRelease><ReleaseId><ICPN>036000291452</ICPN></ReleaseId></PurgedRelease>
</ern:PurgeReleaseMessage>
`

// edit returns doc with old replaced by new, failing if old is absent.
func edit(t *testing.T, doc, old, new string) string {
	t.Helper()
	if !strings.Contains(doc, old) {
		t.Fatalf("test document has no %q", old)
	}
	return strings.Replace(doc, old, new, 1)
}

// parseRelease parses doc, which must be a valid NewReleaseMessage.
func parseRelease(t *testing.T, doc string) *release.Draft {
	t.Helper()
	p, err := ern.Parse([]byte(doc))
	if err != nil {
		t.Fatalf("Parse = %v", err)
	}
	if p.Release == nil {
		t.Fatal("Parse: no release")
	}
	return p.Release
}

// problemsOf parses data, which must fail, and returns the problems.
func problemsOf(t *testing.T, data []byte) *release.ValidationError {
	t.Helper()
	p, err := ern.Parse(data)
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want an error", p)
	}
	v, ok := release.IsValidationError(err)
	if !ok {
		t.Fatalf("Parse error %T %v, want a *release.ValidationError", err, err)
	}
	if p.Release != nil || p.Purge != nil {
		t.Errorf("Parse returned a result with its error: %+v", p)
	}
	return v
}

// wantProblems checks the exact list of problem fields, and that each
// reason contains its fragment.
func wantProblems(t *testing.T, v *release.ValidationError, want ...[2]string) {
	t.Helper()
	var fields []string
	for _, p := range v.Problems {
		fields = append(fields, p.Field)
	}
	var wantFields []string
	for _, w := range want {
		wantFields = append(wantFields, w[0])
	}
	if !slices.Equal(fields, wantFields) {
		t.Fatalf("problem fields = %q, want %q\n(problems: %v)", fields, wantFields, v.Problems)
	}
	for i, w := range want {
		if !strings.Contains(v.Problems[i].Reason, w[1]) {
			t.Errorf("problem %s: reason %q does not contain %q", w[0], v.Problems[i].Reason, w[1])
		}
	}
}

func TestParseMinimal382(t *testing.T) {
	p, err := ern.Parse([]byte(minimal382))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "version", p.Version, "3.8.2")
	d := p.Release
	check(t, "upc", d.UPC, "036000291452")
	check(t, "title (ReferenceTitle fallback)", d.Title, "Single")
	check(t, "artist", d.Artist, "Artist")
	check(t, "label", d.Label, "Label")
	// No ResourceGroup: tracks come from ReleaseResourceReferenceList.
	checkTracks(t, d, 1, trackWant{index: 0, isrc: "USAAA2400001", title: "Song", duration: "PT3M", disc: 1, number: 1})
	check(t, "source of tracks[0].number", d.Source["tracks[0].number"],
		"/NewReleaseMessage/ReleaseList/Release/ReleaseResourceReferenceList/ReleaseResourceReference")
	if len(d.Deals) != 1 {
		t.Fatalf("%d deals, want 1", len(d.Deals))
	}
	checkSlice(t, "use types", d.Deals[0].UseTypes, []string{"PermanentDownload"})
	if _, err := release.New(*d); err != nil {
		t.Errorf("release.New(minimal 3.8.2) = %v", err)
	}
}

func TestParseMinimal43(t *testing.T) {
	p, err := ern.Parse([]byte(minimal43))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "version", p.Version, "4.3")
	d := p.Release
	check(t, "test message", d.Message.Test, true)
	check(t, "label", d.Label, "The Label")
	check(t, "artist (joined main artists)", d.Artist, "The Artist")
	check(t, "source of artist", d.Source["artist"], "/NewReleaseMessage/PartyList/Party[1]/PartyName/FullName")
	checkTracks(t, d, 1, trackWant{index: 0, isrc: "USAAA2400001", title: "Song", duration: "PT3M", disc: 1, number: 1, artist: "The Artist"})
	if len(d.Deals) != 2 {
		t.Fatalf("%d deals, want 2", len(d.Deals))
	}
	check(t, "R0 deal track", d.Deals[0].Track, "")
	check(t, "R1 (TrackRelease) deal track", d.Deals[1].Track, "USAAA2400001")
	check(t, "source of deals[1].track", d.Source["deals[1].track"], "/NewReleaseMessage/DealList/ReleaseDeal/DealReleaseReference[2]")
	if _, err := release.New(*d); err != nil {
		t.Errorf("release.New(minimal 4.3) = %v", err)
	}
}

func TestParsePurge(t *testing.T) {
	p, err := ern.Parse([]byte(minimalPurge))
	if err != nil {
		t.Fatal(err)
	}
	if p.Release != nil || p.Purge == nil {
		t.Fatalf("got %+v, want a purge", p)
	}
	check(t, "upc", p.Purge.UPC, "036000291452")
	check(t, "sender (PartyName fallback)", p.Purge.Message.Sender, "Some Label")

	v := problemsOf(t, []byte(edit(t, minimalPurge, "<ICPN>036000291452</ICPN>", "<ProprietaryId>x</ProprietaryId>")))
	wantProblems(t, v, [2]string{"/PurgeReleaseMessage/PurgedRelease/ReleaseId", "neither an ICPN nor a GRid"})
}

func TestParseVersions(t *testing.T) {
	for uri, version := range map[string]string{
		"http://ddex.net/xml/ern/38": "3.8", "http://ddex.net/xml/ern/381": "3.8.1",
		"http://ddex.net/xml/ern/382": "3.8.2", "http://ddex.net/xml/ern/383": "3.8.3",
	} {
		p, err := ern.Parse([]byte(edit(t, minimal382, "http://ddex.net/xml/ern/382", uri)))
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		check(t, uri, p.Version, version)
	}
	for uri, version := range map[string]string{
		"http://ddex.net/xml/ern/41": "4.1", "http://ddex.net/xml/ern/411": "4.1.1", "http://ddex.net/xml/ern/42": "4.2",
		"http://ddex.net/xml/ern/43": "4.3", "http://ddex.net/xml/ern/431": "4.3.1", "http://ddex.net/xml/ern/432": "4.3.2",
	} {
		doc := edit(t, minimal43, "http://ddex.net/xml/ern/43", uri)
		if strings.HasPrefix(version, "4.1") || version == "4.2" {
			// ERN 4.1 and 4.2 keep the ISRC in ResourceId, not in an edition.
			doc = edit(t, doc, "<SoundRecordingEdition><ResourceId><ISRC>USAAA2400001</ISRC></ResourceId></SoundRecordingEdition>",
				"<ResourceId><ISRC>USAAA2400001</ISRC></ResourceId>")
		}
		p, err := ern.Parse([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", uri, err)
			continue
		}
		check(t, uri, p.Version, version)
		check(t, uri+" isrc", p.Release.Tracks[0].ISRC, "USAAA2400001")
	}
}

func TestParseDiscsAndWorks(t *testing.T) {
	// Disc 2 is listed first; disc 1 holds a MultiWorkPart whose movements
	// restart their SequenceNumbers, a track without SequenceNumber, and
	// a video that is not a track.
	doc := edit(t, minimal43, `<ResourceGroup>
        <ResourceGroupContentItem><SequenceNumber>1</SequenceNumber><ReleaseResourceReference>A1</ReleaseResourceReference></ResourceGroupContentItem>
      </ResourceGroup>`, `<ResourceGroup>
        <ResourceGroup ResourceGroupType="Component">
          <SequenceNumber>2</SequenceNumber>
          <ResourceGroupContentItem><SequenceNumber>1</SequenceNumber><ReleaseResourceReference>A5</ReleaseResourceReference></ResourceGroupContentItem>
        </ResourceGroup>
        <ResourceGroup ResourceGroupType="Component">
          <SequenceNumber>1</SequenceNumber>
          <ResourceGroupContentItem><SequenceNumber>1</SequenceNumber><ReleaseResourceReference>A1</ReleaseResourceReference></ResourceGroupContentItem>
          <ResourceGroup ResourceGroupType="MultiWorkPart">
            <SequenceNumber>2</SequenceNumber>
            <ResourceGroupContentItem><SequenceNumber>1</SequenceNumber><ReleaseResourceReference>A2</ReleaseResourceReference></ResourceGroupContentItem>
            <ResourceGroupContentItem><SequenceNumber>2</SequenceNumber><ReleaseResourceReference>A3</ReleaseResourceReference></ResourceGroupContentItem>
          </ResourceGroup>
          <ResourceGroupContentItem><ReleaseResourceReference>V1</ReleaseResourceReference></ResourceGroupContentItem>
          <ResourceGroupContentItem><ReleaseResourceReference>A4</ReleaseResourceReference></ResourceGroupContentItem>
        </ResourceGroup>
      </ResourceGroup>`)
	var recordings strings.Builder
	for _, ref := range []string{"A2", "A3", "A4", "A5"} {
		recordings.WriteString(`<SoundRecording><ResourceReference>` + ref + `</ResourceReference>
      <SoundRecordingEdition><ResourceId><ISRC>USAAA240000` + ref[1:] + `</ISRC></ResourceId></SoundRecordingEdition>
      <DisplayTitleText>Song ` + ref + `</DisplayTitleText><Duration>PT1M</Duration></SoundRecording>`)
	}
	recordings.WriteString(`<Video><ResourceReference>V1</ResourceReference></Video>`)
	doc = edit(t, doc, "</ResourceList>", recordings.String()+"</ResourceList>")

	d := parseRelease(t, doc)
	type pos struct {
		isrc         string
		disc, number int
	}
	var got []pos
	for _, tr := range d.Tracks {
		got = append(got, pos{tr.ISRC, tr.Disc, tr.Number})
	}
	want := []pos{
		{"USAAA2400005", 2, 1},
		{"USAAA2400001", 1, 1}, {"USAAA2400002", 1, 2}, {"USAAA2400003", 1, 3}, {"USAAA2400004", 1, 4},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tracks = %v, want %v", got, want)
	}
	check(t, "title from DisplayTitleText", d.Tracks[4].Title, "Song A4")
	check(t, "source of tracks[0].disc", d.Source["tracks[0].disc"],
		"/NewReleaseMessage/ReleaseList/Release/ResourceGroup/ResourceGroup[1]/SequenceNumber")
	check(t, "source of tracks[2].number (movement)", d.Source["tracks[2].number"],
		"/NewReleaseMessage/ReleaseList/Release/ResourceGroup/ResourceGroup[2]/ResourceGroup/ResourceGroupContentItem[1]")
	if _, err := release.New(*d); err != nil {
		t.Errorf("release.New = %v", err)
	}
}

func TestParseDealDetails(t *testing.T) {
	doc := edit(t, minimal43, `<Deal>
        <DealTerms>
          <TerritoryCode>US</TerritoryCode>`, `<Deal>
        <DealTerms>
          <ExcludedTerritoryCode>DE</ExcludedTerritoryCode>
          <ExcludedTerritoryCode>FR</ExcludedTerritoryCode>
          <UseType UserDefinedValue="Karaoke">UserDefined</UseType>
          <ValidityPeriod><StartDateTime>2025-01-01T00:00:00Z</StartDateTime><EndDate>2026-01-01</EndDate></ValidityPeriod>
          <PriceInformation>
            <PriceCode Namespace="DPID:PADPIDA0000000001A">FRONT</PriceCode>
            <WholesalePricePerUnit CurrencyCode="EUR">0.70</WholesalePricePerUnit>
            <SuggestedRetailPrice CurrencyCode="USD">1.29</SuggestedRetailPrice>
          </PriceInformation>`)
	d := parseRelease(t, doc)
	// 2 references × 1 Deal × 2 ValidityPeriods.
	if len(d.Deals) != 4 {
		t.Fatalf("%d deals, want 4", len(d.Deals))
	}
	first, second := d.Deals[0], d.Deals[1]
	checkSlice(t, "excluded", first.ExcludedTerritories, []string{"DE", "FR"})
	check(t, "territories", len(first.Territories), 0)
	checkSlice(t, "use types", first.UseTypes, []string{"Karaoke", "OnDemandStream"})
	check(t, "first start", first.Start, "2025-01-01T00:00:00Z")
	check(t, "first end", first.End, "2026-01-01")
	check(t, "second start", second.Start, "2024-06-01")
	check(t, "second end", second.End, "")
	check(t, "price amount (retail preferred)", first.PriceAmount, "1.29")
	check(t, "price currency", first.PriceCurrency, "USD")
	check(t, "price code", first.PriceCode, "FRONT")
	check(t, "track of third", d.Deals[2].Track, "USAAA2400001")
	check(t, "source of deals[0].excludedTerritories[1]", d.Source["deals[0].excludedTerritories[1]"],
		"/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms/ExcludedTerritoryCode[2]")
	check(t, "source of deals[0].end", d.Source["deals[0].end"],
		"/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms/ValidityPeriod[1]/EndDate")
	check(t, "source of deals[0].price", d.Source["deals[0].price"],
		"/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms/PriceInformation/SuggestedRetailPrice")
}

func TestParseNoDealList(t *testing.T) {
	doc := minimal382[:strings.Index(minimal382, "  <DealList>")] + "</ern:NewReleaseMessage>\n"
	d := parseRelease(t, doc)
	check(t, "deals", len(d.Deals), 0)
}

func TestParseMalformed(t *testing.T) {
	doc := edit(t, minimal382, "<MessageId>M382</MessageId>", "<MessageId>M382</MessageID>")
	v := problemsOf(t, []byte(doc))
	wantProblems(t, v, [2]string{"/NewReleaseMessage/MessageHeader/MessageId", "line 4"})
	if !strings.Contains(v.Problems[0].Reason, "not well-formed") {
		t.Errorf("reason %q does not say the XML is malformed", v.Problems[0].Reason)
	}

	// A truncated document still names what of the header was read.
	cut := minimal382[:strings.Index(minimal382, "<ResourceList>")+len("<ResourceList>")]
	v = problemsOf(t, []byte(cut))
	wantProblems(t, v, [2]string{"/NewReleaseMessage/ResourceList", "unexpected EOF"})
	check(t, "message id of truncated document", v.Message.ID, "M382")
	check(t, "sender of truncated document", v.Message.Sender, "PADPIDA0000000001A")
}

func TestParseUnknownNamespace(t *testing.T) {
	for _, uri := range []string{"http://ddex.net/xml/ern/99", "urn:example:not-ddex"} {
		v := problemsOf(t, []byte(edit(t, minimal382, "http://ddex.net/xml/ern/382", uri)))
		wantProblems(t, v, [2]string{"/NewReleaseMessage", uri})
		check(t, "message id", v.Message.ID, "M382")
	}
	noNamespace := edit(t, edit(t, minimal382, `<ern:NewReleaseMessage xmlns:ern="http://ddex.net/xml/ern/382"`, `<NewReleaseMessage`),
		"</ern:NewReleaseMessage>", "</NewReleaseMessage>")
	wantProblems(t, problemsOf(t, []byte(noNamespace)), [2]string{"/NewReleaseMessage", "has no namespace"})
}

func TestParseWrongRoot(t *testing.T) {
	doc := strings.ReplaceAll(minimal382, "ern:NewReleaseMessage", "ern:CatalogListMessage")
	v := problemsOf(t, []byte(doc))
	wantProblems(t, v, [2]string{"/CatalogListMessage", "NewReleaseMessage or PurgeReleaseMessage"})

	// Wrong root and no namespace: both are listed.
	v = problemsOf(t, []byte(`<html><body/></html>`))
	wantProblems(t, v,
		[2]string{"/html", "NewReleaseMessage or PurgeReleaseMessage"},
		[2]string{"/html", "has no namespace"})
}

func TestParseMissingHeaderFields(t *testing.T) {
	doc := edit(t, minimal382, "<MessageId>M382</MessageId>", "")
	doc = edit(t, doc, "<MessageCreatedDateTime>2024-01-02T03:04:05Z</MessageCreatedDateTime>", "")
	v := problemsOf(t, []byte(doc))
	wantProblems(t, v,
		[2]string{"/NewReleaseMessage/MessageHeader/MessageId", "is missing"},
		[2]string{"/NewReleaseMessage/MessageHeader/MessageCreatedDateTime", "is missing"})
	check(t, "sender still read", v.Message.Sender, "PADPIDA0000000001A")

	doc = edit(t, minimal43, "<MessageSender><PartyId>PADPIDA0000000001A</PartyId></MessageSender>", "<MessageSender><PartyId/></MessageSender>")
	wantProblems(t, problemsOf(t, []byte(doc)),
		[2]string{"/NewReleaseMessage/MessageHeader/MessageSender/PartyId", "PartyName/FullName"})

	start := strings.Index(minimal43, "  <MessageHeader>")
	end := strings.Index(minimal43, "  <PartyList>")
	wantProblems(t, problemsOf(t, []byte(minimal43[:start]+minimal43[end:])),
		[2]string{"/NewReleaseMessage/MessageHeader", "is missing"})
}

func TestParseCreatedDateTime(t *testing.T) {
	noZone := edit(t, minimal382, "2024-01-02T03:04:05Z", "2024-01-02T03:04:05")
	v := problemsOf(t, []byte(noZone))
	wantProblems(t, v, [2]string{"/NewReleaseMessage/MessageHeader/MessageCreatedDateTime", "has no time zone"})
	check(t, "message id", v.Message.ID, "M382")

	bad := edit(t, minimal382, "2024-01-02T03:04:05Z", "yesterday")
	wantProblems(t, problemsOf(t, []byte(bad)),
		[2]string{"/NewReleaseMessage/MessageHeader/MessageCreatedDateTime", `"yesterday" is not a date-time`})

	for _, ok := range []string{"2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05-04:00"} {
		if _, err := ern.Parse([]byte(edit(t, minimal382, "2024-01-02T03:04:05Z", ok))); err != nil {
			t.Errorf("created %s: %v", ok, err)
		}
	}
}

func TestParseSoundRecordingWithoutISRC(t *testing.T) {
	doc := edit(t, minimal382, "<SoundRecordingId><ISRC>USAAA2400001</ISRC></SoundRecordingId>", "")
	wantProblems(t, problemsOf(t, []byte(doc)),
		[2]string{"/NewReleaseMessage/ResourceList/SoundRecording/SoundRecordingId/ISRC", "needs an ISRC"})

	doc = edit(t, minimal43, "<SoundRecordingEdition><ResourceId><ISRC>USAAA2400001</ISRC></ResourceId></SoundRecordingEdition>", "")
	wantProblems(t, problemsOf(t, []byte(doc)),
		[2]string{"/NewReleaseMessage/ResourceList/SoundRecording/SoundRecordingEdition/ResourceId/ISRC", "needs an ISRC"})
}

func TestParseListsEveryStructuralProblem(t *testing.T) {
	doc := edit(t, minimal382, "<SoundRecordingId><ISRC>USAAA2400001</ISRC></SoundRecordingId>", "")
	doc = edit(t, doc, `<ReleaseResourceReference ReleaseResourceType="PrimaryResource">A1</ReleaseResourceReference>`,
		`<ReleaseResourceReference ReleaseResourceType="PrimaryResource">A1</ReleaseResourceReference>
        <ReleaseResourceReference ReleaseResourceType="PrimaryResource">A9</ReleaseResourceReference>`)
	doc = edit(t, doc, "<DealReleaseReference>R0</DealReleaseReference>",
		"<DealReleaseReference>R0</DealReleaseReference><DealReleaseReference>R7</DealReleaseReference>")
	doc = edit(t, doc, "<TerritoryCode>Worldwide</TerritoryCode>\n          <ValidityPeriod>", "<ValidityPeriod>")
	doc = edit(t, doc, "<MessageId>M382</MessageId>", "<MessageId/>")
	v := problemsOf(t, []byte(doc))
	wantProblems(t, v,
		[2]string{"/NewReleaseMessage/MessageHeader/MessageId", "is empty"},
		[2]string{"/NewReleaseMessage/ResourceList/SoundRecording/SoundRecordingId/ISRC", "needs an ISRC"},
		[2]string{"/NewReleaseMessage/ReleaseList/Release/ReleaseResourceReferenceList/ReleaseResourceReference[2]", `resource "A9"`},
		[2]string{"/NewReleaseMessage/DealList/ReleaseDeal/Deal/DealTerms/TerritoryCode", "ExcludedTerritoryCode"},
		[2]string{"/NewReleaseMessage/DealList/ReleaseDeal/DealReleaseReference[2]", `release "R7"`},
	)
}

func TestParseDanglingReferences43(t *testing.T) {
	doc := edit(t, minimal43, "<ReleaseResourceReference>A1</ReleaseResourceReference></ResourceGroupContentItem>",
		"<ReleaseResourceReference>A2</ReleaseResourceReference></ResourceGroupContentItem>")
	doc = edit(t, doc, "<ReleaseLabelReference>PLabel</ReleaseLabelReference>", "<ReleaseLabelReference>PNobody</ReleaseLabelReference>")
	wantProblems(t, problemsOf(t, []byte(doc)),
		[2]string{"/NewReleaseMessage/ReleaseList/Release/ReleaseLabelReference", `party "PNobody"`},
		[2]string{"/NewReleaseMessage/ReleaseList/Release/ResourceGroup/ResourceGroupContentItem/ReleaseResourceReference", `resource "A2"`},
	)
}

func TestParseNoMainRelease(t *testing.T) {
	doc := edit(t, minimal382, `<Release IsMainRelease="true">`, `<Release>`)
	doc = edit(t, doc, "<ReleaseType>Single</ReleaseType>", "<ReleaseType>TrackRelease</ReleaseType>")
	wantProblems(t, problemsOf(t, []byte(doc)), [2]string{"/NewReleaseMessage/ReleaseList/Release", "no main release"})

	start := strings.Index(minimal43, "    <Release>")
	end := strings.Index(minimal43, "    <TrackRelease>")
	wantProblems(t, problemsOf(t, []byte(minimal43[:start]+minimal43[end:])),
		[2]string{"/NewReleaseMessage/ReleaseList/Release", "needs a main Release"})
}

func TestParseEncoding(t *testing.T) {
	doc := edit(t, minimal382, `encoding="UTF-8"`, `encoding="ISO-8859-1"`)
	wantProblems(t, problemsOf(t, []byte(doc)), [2]string{"/", `"ISO-8859-1"`})

	for _, label := range []string{"utf-8", "UTF8", "US-ASCII"} {
		if _, err := ern.Parse([]byte(edit(t, minimal382, `encoding="UTF-8"`, `encoding="`+label+`"`))); err != nil {
			t.Errorf("encoding %s: %v", label, err)
		}
	}

	// A UTF-8 byte order mark is fine; invalid UTF-8 bytes are not.
	if _, err := ern.Parse(append([]byte("\xef\xbb\xbf"), minimal382...)); err != nil {
		t.Errorf("document with BOM: %v", err)
	}
	latin1 := edit(t, minimal382, "<TitleText>Song</TitleText>", "<TitleText>Caf\xe9</TitleText>")
	wantProblems(t, problemsOf(t, []byte(latin1)), [2]string{"/NewReleaseMessage/ResourceList/SoundRecording/ReferenceTitle/TitleText", "UTF-8"})
}

func TestParseDeepNesting(t *testing.T) {
	doc := edit(t, minimal43, "</ResourceList>",
		strings.Repeat("<x>", 200)+strings.Repeat("</x>", 200)+"</ResourceList>")
	v := problemsOf(t, []byte(doc))
	if len(v.Problems) != 1 || !strings.Contains(v.Problems[0].Reason, "more than 64 levels") {
		t.Fatalf("problems = %v, want one about nesting depth", v.Problems)
	}
	if !strings.HasPrefix(v.Problems[0].Field, "/NewReleaseMessage/ResourceList/x/x/") {
		t.Errorf("field = %q, want the path of the deepest element", v.Problems[0].Field)
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "   \n\t", `<?xml version="1.0" encoding="UTF-8"?>`} {
		v := problemsOf(t, []byte(in))
		wantProblems(t, v, [2]string{"/", "empty"})
	}
}

func TestParseRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, 10<<20)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	v := problemsOf(t, data)
	if len(v.Problems) == 0 || v.Problems[0].Field == "" || v.Problems[0].Reason == "" {
		t.Fatalf("problems = %v, want a named problem", v.Problems)
	}

	// Random bytes after a valid start are found too.
	data = append([]byte(minimal382[:200]), data[:1<<20]...)
	problemsOf(t, data)
}

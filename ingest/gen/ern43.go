package gen

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/catalog-org/catalog/ingest"
)

// ERN43 writes a delivery as a DDEX ERN 4.3 NewReleaseMessage (or
// PurgeReleaseMessage): parties, sound recordings, the release with its
// resource group per disc, and its deals.
func ERN43(w io.Writer, d Delivery) error {
	j := d.Release
	var b strings.Builder
	x := func(s string) string {
		var buf bytes.Buffer
		_ = xml.EscapeText(&buf, []byte(s))
		return buf.String()
	}
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	root := "NewReleaseMessage"
	if d.Purge() {
		root = "PurgeReleaseMessage"
	}
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<ernm:%s xmlns:ernm="http://ddex.net/xml/ern/43" AvsVersionId="4" LanguageAndScriptCode="en">`+"\n", root)
	p("  <MessageHeader>\n    <MessageThreadId>%s</MessageThreadId>\n    <MessageId>%s</MessageId>\n", x(j.MessageID), x(j.MessageID))
	p("    <MessageSender><PartyId>%s</PartyId><PartyName><FullName>Catalog Generator</FullName></PartyName></MessageSender>\n", x(j.Sender))
	p("    <MessageRecipient><PartyId>%s</PartyId></MessageRecipient>\n", x(ingest.DefaultDPID))
	p("    <MessageCreatedDateTime>%s</MessageCreatedDateTime>\n    <MessageControlType>LiveMessage</MessageControlType>\n  </MessageHeader>\n", x(j.MessageCreated))
	if d.Purge() {
		p("  <PurgedRelease><ReleaseId><ICPN>%s</ICPN></ReleaseId></PurgedRelease>\n</ernm:%s>\n", x(j.Purge.UPC), root)
		_, err := io.WriteString(w, b.String())
		return err
	}

	parties := map[string]string{}
	var order []string
	party := func(name string) string {
		if ref, ok := parties[name]; ok {
			return ref
		}
		ref := fmt.Sprintf("P%d", len(parties)+1)
		parties[name] = ref
		order = append(order, name)
		return ref
	}
	label := party(j.Label)
	for _, a := range j.Artists {
		party(a.Name)
	}
	for _, t := range j.Tracks {
		for _, a := range t.Artists {
			party(a.Name)
		}
	}
	p("  <PartyList>\n")
	for _, name := range order {
		p("    <Party><PartyReference>%s</PartyReference><PartyName><FullName>%s</FullName></PartyName></Party>\n", parties[name], x(name))
	}
	p("  </PartyList>\n")
	displayArtists := func(indent string, as []artistLike) {
		for k, a := range as {
			p("%s<DisplayArtist SequenceNumber=\"%d\"><ArtistPartyReference>%s</ArtistPartyReference><DisplayArtistRole>%s</DisplayArtistRole></DisplayArtist>\n",
				indent, k+1, parties[a.Name], x(a.Role))
		}
	}

	p("  <ResourceList>\n")
	for k, t := range j.Tracks {
		artist := t.Artist
		as := toLike(t.Artists)
		if artist == "" {
			artist, as = j.Artist, toLike(j.Artists)
		}
		p("    <SoundRecording>\n      <ResourceReference>A%d</ResourceReference>\n      <Type>MusicalWorkSoundRecording</Type>\n", k+1)
		p("      <SoundRecordingEdition><ResourceId><ISRC>%s</ISRC></ResourceId><PLine><PLineText>%s</PLineText></PLine></SoundRecordingEdition>\n", x(t.ISRC), x(t.PLine))
		p("      <DisplayTitleText>%s</DisplayTitleText>\n      <DisplayTitle><TitleText>%s</TitleText></DisplayTitle>\n", x(t.Title), x(t.Title))
		p("      <DisplayArtistName>%s</DisplayArtistName>\n", x(artist))
		displayArtists("      ", as)
		p("      <Duration>%s</Duration>\n      <ParentalWarningType>%s</ParentalWarningType>\n    </SoundRecording>\n", x(t.Duration), x(t.ParentalWarning))
	}
	p("  </ResourceList>\n  <ReleaseList>\n    <Release>\n      <ReleaseReference>R0</ReleaseReference>\n")
	p("      <ReleaseType>%s</ReleaseType>\n      <ReleaseId><ICPN>%s</ICPN><CatalogNumber Namespace=\"DPID:%s\">%s</CatalogNumber></ReleaseId>\n",
		x(j.Type), x(j.UPC), x(j.Sender), x(j.CatalogNumber))
	sub := ""
	if j.Version != "" {
		sub = "<SubTitle>" + x(j.Version) + "</SubTitle>"
	}
	p("      <DisplayTitleText>%s</DisplayTitleText>\n      <DisplayTitle><TitleText>%s</TitleText>%s</DisplayTitle>\n", x(j.Title), x(j.Title), sub)
	p("      <DisplayArtistName>%s</DisplayArtistName>\n", x(j.Artist))
	displayArtists("      ", toLike(j.Artists))
	p("      <ReleaseLabelReference>%s</ReleaseLabelReference>\n", label)
	p("      <PLine><PLineText>%s</PLineText></PLine>\n      <Genre><GenreText>%s</GenreText></Genre>\n", x(j.PLine), x(j.Genre))
	p("      <ReleaseDate>%s</ReleaseDate>\n", x(j.ReleaseDate))
	if j.OriginalReleaseDate != "" {
		p("      <OriginalReleaseDate>%s</OriginalReleaseDate>\n", x(j.OriginalReleaseDate))
	}
	p("      <ParentalWarningType>NotExplicit</ParentalWarningType>\n")
	p("      <ResourceGroup>\n")
	disc := 0
	for k, t := range j.Tracks {
		if t.Disc != disc {
			if disc != 0 {
				p("        </ResourceGroup>\n")
			}
			disc = t.Disc
			p("        <ResourceGroup ResourceGroupType=\"ReleaseComponent\"><SequenceNumber>%d</SequenceNumber>\n", disc)
		}
		p("          <ResourceGroupContentItem><SequenceNumber>%d</SequenceNumber><ReleaseResourceReference>A%d</ReleaseResourceReference></ResourceGroupContentItem>\n", t.Number, k+1)
	}
	if disc != 0 {
		p("        </ResourceGroup>\n")
	}
	p("      </ResourceGroup>\n    </Release>\n  </ReleaseList>\n")
	if len(j.Deals) > 0 {
		p("  <DealList>\n    <ReleaseDeal>\n      <DealReleaseReference>R0</DealReleaseReference>\n")
		for _, dl := range j.Deals {
			p("      <Deal><DealTerms>")
			for _, m := range dl.CommercialModels {
				p("<CommercialModelType>%s</CommercialModelType>", x(m))
			}
			for _, u := range dl.UseTypes {
				p("<UseType>%s</UseType>", x(u))
			}
			for _, t := range dl.Territories {
				p("<TerritoryCode>%s</TerritoryCode>", x(t))
			}
			if dl.End != "" {
				p("<ValidityPeriod><StartDate>%s</StartDate><EndDate>%s</EndDate></ValidityPeriod>", x(dl.Start), x(dl.End))
			} else {
				p("<ValidityPeriod><StartDate>%s</StartDate></ValidityPeriod>", x(dl.Start))
			}
			if dl.Price != nil {
				p(`<PriceInformation><WholesalePricePerUnit CurrencyCode="%s">%s</WholesalePricePerUnit></PriceInformation>`, x(dl.Price.Currency), x(dl.Price.Amount))
			}
			p("</DealTerms></Deal>\n")
		}
		p("    </ReleaseDeal>\n  </DealList>\n")
	}
	p("</ernm:%s>\n", root)
	_, err := io.WriteString(w, b.String())
	return err
}

// artistLike is a credited artist as the writer needs it.
type artistLike struct{ Name, Role string }

func toLike(in []ingest.JSONArtist) []artistLike {
	out := make([]artistLike, len(in))
	for i, a := range in {
		out[i] = artistLike(a)
	}
	return out
}

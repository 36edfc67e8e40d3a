package ern_test

import (
	"slices"
	"testing"
)

// TestParsePartiesOfTheHeader: SentOnBehalfOf and every non-empty
// MessageRecipient/PartyId are read, and the header fields ingest checks
// are mapped to their element paths.
func TestParsePartiesOfTheHeader(t *testing.T) {
	t.Parallel()
	doc := edit(t, minimal382, "<MessageCreatedDateTime>", `<SentOnBehalfOf><PartyId>PADPIDA0000000002L</PartyId></SentOnBehalfOf>
    <MessageRecipient><PartyId>PADPIDA0000000000R</PartyId><PartyId/></MessageRecipient>
    <MessageRecipient><PartyId IsDPID="true"/><PartyName><FullName>Other</FullName></PartyName></MessageRecipient>
    <MessageRecipient><PartyId>PADPIDA0000000003X</PartyId></MessageRecipient>
    <MessageCreatedDateTime>`)
	d := parseRelease(t, doc)
	m := d.Message
	if m.Sender != "PADPIDA0000000001A" || m.OnBehalfOf != "PADPIDA0000000002L" ||
		!slices.Equal(m.Recipients, []string{"PADPIDA0000000000R", "PADPIDA0000000003X"}) {
		t.Fatalf("message = %+v", m)
	}
	if !slices.Equal(m.Parties(), []string{"PADPIDA0000000001A", "PADPIDA0000000002L"}) {
		t.Errorf("parties = %q", m.Parties())
	}
	for k, want := range map[string]string{
		"sender":         "/NewReleaseMessage/MessageHeader/MessageSender/PartyId",
		"recipient":      "/NewReleaseMessage/MessageHeader/MessageRecipient/PartyId",
		"messageCreated": "/NewReleaseMessage/MessageHeader/MessageCreatedDateTime",
	} {
		if d.Source[k] != want {
			t.Errorf("Source[%s] = %q, want %q", k, d.Source[k], want)
		}
	}
	// No recipient at all (allowed by this parser) and no SentOnBehalfOf.
	m = parseRelease(t, minimal382).Message
	if m.OnBehalfOf != "" || len(m.Recipients) != 0 {
		t.Errorf("minimal message = %+v", m)
	}
}

package ingest_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/ingestpg"
)

const (
	labelA = "PADPIDA-LABEL-A"
	labelB = "PADPIDA-LABEL-B"
)

// postAs posts body to base with the gateway's parties header set to
// parties (none when parties is nil).
func postAs(t *testing.T, base, contentType, body string, parties []string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/v1/deliveries", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for _, p := range parties {
		req.Header.Add(ingest.PartiesHeader, p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response is not JSON: %v", err)
	}
	return resp.StatusCode, out
}

// onBehalfOf adds a SentOnBehalfOf party to a JSON delivery.
func onBehalfOf(body, party string) string {
	return strings.Replace(body, `"sender"`, `"sentOnBehalfOf":"`+party+`","sender"`, 1)
}

// TestDeliveryMustSpeakForTheClientsParties: a request that carries the
// gateway's parties header is applied only if the message's sender and
// on-behalf-of party are among them (JSON and ERN, release and purge);
// otherwise it is refused with 403 naming the message, the field and why,
// and changes nothing. "*" lets any party through.
func TestDeliveryMustSpeakForTheClientsParties(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	asA := []string{labelA}
	const partyReason = "may deliver only as \"" + labelA + "\""

	claimB := ownedRelease(labelB, "b-1", 1, "Claimed")
	status, body := postAs(t, f.srv.URL, "application/json", claimB, asA)
	wantRejected(t, "JSON claiming another sender", status, body, http.StatusForbidden, "sender", `"`+labelB+`"`, partyReason)
	if m, _ := body["message"].(map[string]any); m["sender"] != labelB || m["id"] != "b-1" {
		t.Errorf("the rejection names message %v, want %s/b-1", body["message"], labelB)
	}
	status, body = postAs(t, f.srv.URL, "application/xml", ernOf(t, claimB), asA)
	wantRejected(t, "ERN claiming another sender", status, body, http.StatusForbidden, "/NewReleaseMessage/MessageHeader/MessageSender/PartyId", labelB)
	status, body = postAs(t, f.srv.URL, "application/json", onBehalfOf(ownedRelease(labelA, "a-0", 1, "Claimed"), labelB), asA)
	wantRejected(t, "JSON on behalf of another party", status, body, http.StatusForbidden, "sentOnBehalfOf", labelB, partyReason)
	ernBehalf := strings.Replace(ernOf(t, ownedRelease(labelA, "a-0", 1, "Claimed")), "</MessageSender>",
		"</MessageSender><SentOnBehalfOf><PartyId>"+labelB+"</PartyId></SentOnBehalfOf>", 1)
	status, body = postAs(t, f.srv.URL, "application/xml", ernBehalf, asA)
	wantRejected(t, "ERN on behalf of another party", status, body, http.StatusForbidden, "/NewReleaseMessage/MessageHeader/SentOnBehalfOf/PartyId", labelB)
	status, body = postAs(t, f.srv.URL, "application/json", ownedRelease("", "anon-1", 1, "Claimed"), asA)
	wantRejected(t, "JSON without a sender", status, body, http.StatusForbidden, "sender", "the anonymous sender")
	status, body = postAs(t, f.srv.URL, "application/json", `{"messageId":"p-1","sender":"`+labelB+`","purge":{"upc":"00724349501058"}}`, asA)
	wantRejected(t, "purge claiming another sender", status, body, http.StatusForbidden, "sender", labelB)
	status, body = postAs(t, f.srv.URL, "application/json", ownedRelease(labelA, "a-0", 1, "Claimed"), []string{""})
	wantRejected(t, "an empty parties header", status, body, http.StatusForbidden, "sender", "may deliver only as no party")
	if n, size := f.streams(t), f.logSize(t); n != 0 || size != 0 {
		t.Fatalf("%d streams, %d records after refused deliveries, want none", n, size)
	}
	if !strings.Contains(f.logs.String(), "delivery rejected: not a party of its API client") {
		t.Errorf("no log line for the refusals:\n%s", f.logs.String())
	}

	// Its own party, alone or among several, and on behalf of another of them.
	if status, body := postAs(t, f.srv.URL, "application/json", ownedRelease(labelA, "a-1", 1, "Come Down"), asA); status != http.StatusAccepted {
		t.Fatalf("as its own party: %d %v", status, body)
	}
	both := []string{"PADPIDA-DISTRIB, " + labelA, labelB}
	if status, body := postAs(t, f.srv.URL, "application/json", onBehalfOf(ownedRelease("PADPIDA-DISTRIB", "d-1", 2, "Come Down (Remastered)"), labelA), both); status != http.StatusAccepted {
		t.Fatalf("a distributor for its label: %d %v", status, body)
	}
	if got := f.title(t); got != "Come Down (Remastered)" {
		t.Fatalf("title = %q", got)
	}
	// Any party: the parties check lets it through, ownership still applies.
	status, body = postAs(t, f.srv.URL, "application/json", ownedRelease(labelB, "b-2", 3, "Owned"), []string{ingest.AnyParty})
	wantRejected(t, "wildcard client, foreign release", status, body, http.StatusForbidden, "sender", "does not own release")
	other := strings.Replace(ownedRelease(labelB, "b-3", 3, "Other"), "00724349501058", "00602547202871", 1)
	if status, body := postAs(t, f.srv.URL, "application/json", other, []string{ingest.AnyParty}); status != http.StatusAccepted {
		t.Fatalf("wildcard client as %s: %d %v", labelB, status, body)
	}
}

// TestRequireParties: with Config.RequireParties, a delivery that did not
// come through the gateway (no parties header) is refused and changes
// nothing; one with the header is checked as usual. Without the setting a
// request without the header is taken (ingest's internal address, make
// chaos).
func TestRequireParties(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	store, _ := ingestpg.New(f.pool)
	svc, err := ingest.NewService(ingest.Config{Topic: f.topic, RequireParties: true}, store, f.relay, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	strict := httptest.NewServer(ingest.NewHTTPHandler(svc, slog.New(slog.NewTextHandler(io.Discard, nil))))
	t.Cleanup(strict.Close)

	status, body := postAs(t, strict.URL, "application/json", ownedRelease(labelA, "a-1", 1, "Come Down"), nil)
	wantRejected(t, "no parties header", status, body, http.StatusForbidden, "sender", "only through the gateway", ingest.PartiesHeader)
	status, body = postAs(t, strict.URL, "application/xml", ernOf(t, ownedRelease(labelA, "a-1", 1, "Come Down")), nil)
	wantRejected(t, "no parties header (ERN)", status, body, http.StatusForbidden, "/NewReleaseMessage/MessageHeader/MessageSender/PartyId", "only through the gateway")
	if n, size := f.streams(t), f.logSize(t); n != 0 || size != 0 {
		t.Fatalf("%d streams, %d records after refused deliveries, want none", n, size)
	}
	if status, body := postAs(t, strict.URL, "application/json", ownedRelease(labelA, "a-1", 1, "Come Down"), []string{labelA}); status != http.StatusAccepted {
		t.Fatalf("with the header: %d %v", status, body)
	}
	if status, body := postAs(t, f.srv.URL, "application/json", ownedRelease(labelA, "a-2", 2, "Come Down (2)"), nil); status != http.StatusAccepted {
		t.Fatalf("without the setting and without the header: %d %v", status, body)
	}
}

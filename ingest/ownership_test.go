package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/ingest"
	"github.com/catalog-org/catalog/ingest/gen"
)

const (
	labelDPID = "PADPIDA0000000001"
	evilDPID  = "PADPIDA0000000EVIL"
)

// ownedRelease is validRelease from labelDPID, created on day of October
// 2024, with title.
func ownedRelease(sender, id string, day int, title string) string {
	j := map[string]any{}
	if err := json.Unmarshal([]byte(validRelease), &j); err != nil {
		panic(err)
	}
	j["messageId"], j["messageCreated"], j["title"] = id, time.Date(2024, 10, day, 0, 0, 0, 0, time.UTC).Format(time.RFC3339), title
	if sender != "" {
		j["sender"] = sender
	}
	b, _ := json.Marshal(j)
	return string(b)
}

// ernOf renders a JSON delivery as an ERN 4.3 message, the way catalog
// gen does (addressed to ingest.DefaultDPID).
func ernOf(t *testing.T, body string) string {
	t.Helper()
	var j ingest.JSONRelease
	if err := json.Unmarshal([]byte(body), &j); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := gen.ERN43(&b, gen.Delivery{Name: "x", Release: j}); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// title is the release's title in the write-side state.
func (f fixture) title(t *testing.T) string {
	t.Helper()
	var title string
	if err := f.pool.QueryRow(context.Background(), `select coalesce(state->'metadata'->>'title', '') from release_streams`).Scan(&title); err != nil {
		t.Fatal(err)
	}
	return title
}

// wantRejected checks a rejection: status, and one problem at field whose
// reason says all of says.
func wantRejected(t *testing.T, what string, status int, body map[string]any, wantStatus int, field string, says ...string) {
	t.Helper()
	if status != wantStatus || body["status"] != "rejected" {
		t.Fatalf("%s: %d %v, want %d rejected", what, status, body, wantStatus)
	}
	if m, _ := body["message"].(map[string]any); m == nil || m["id"] == "" {
		t.Errorf("%s: the rejection does not name the message: %v", what, body)
	}
	problems, _ := body["problems"].([]any)
	for _, p := range problems {
		pm := p.(map[string]any)
		if pm["field"] != field {
			continue
		}
		for _, s := range says {
			if !strings.Contains(pm["reason"].(string), s) {
				t.Errorf("%s: reason %q does not say %q", what, pm["reason"], s)
			}
		}
		return
	}
	t.Errorf("%s: no problem at %s in %v", what, field, problems)
}

// TestForeignSenderCannotChangeARelease: a release delivered by a label is
// not replaced, taken down or purged by another sender, in JSON or ERN;
// the label's own update is applied.
func TestForeignSenderCannotChangeARelease(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if status, body := f.post(t, "application/json", ownedRelease(labelDPID, "label-1", 1, "Come Down")); status != http.StatusAccepted {
		t.Fatalf("label's delivery: %d %v", status, body)
	}
	replace := ownedRelease(evilDPID, "evil-1", 20, "Owned")
	status, body := f.post(t, "application/json", replace)
	wantRejected(t, "JSON replacement", status, body, http.StatusForbidden, "sender", `"`+evilDPID+`" does not own release 00724349501058`, labelDPID)
	status, body = f.post(t, "application/xml", ernOf(t, replace))
	wantRejected(t, "ERN replacement", status, body, http.StatusForbidden, "/NewReleaseMessage/MessageHeader/MessageSender/PartyId", evilDPID)
	var takedown map[string]any
	_ = json.Unmarshal([]byte(replace), &takedown)
	delete(takedown, "availability")
	td, _ := json.Marshal(takedown)
	status, body = f.post(t, "application/json", string(td))
	wantRejected(t, "takedown", status, body, http.StatusForbidden, "sender", evilDPID)
	status, body = f.post(t, "application/json", `{"messageId":"evil-3","sender":"`+evilDPID+`","messageCreated":"2024-10-21T00:00:00Z","purge":{"upc":"00724349501058"}}`)
	wantRejected(t, "purge", status, body, http.StatusForbidden, "sender", evilDPID)
	if got := f.title(t); got != "Come Down" {
		t.Fatalf("title after the foreign deliveries = %q, want Come Down", got)
	}
	if n := f.logSize(t); n != 1 {
		t.Fatalf("%d records in Kafka after the foreign deliveries, want 1", n)
	}

	// The label's own update is applied.
	status, body = f.post(t, "application/json", ownedRelease(labelDPID, "label-2", 2, "Come Down (Remastered)"))
	if status != http.StatusAccepted || body["version"] != 2.0 {
		t.Fatalf("label's update: %d %v", status, body)
	}
	if got := f.title(t); got != "Come Down (Remastered)" {
		t.Fatalf("title after the label's update = %q", got)
	}
}

// TestOperatorOverride: catalog ingest --override-owner submits deliveries
// with Override set; the release is applied and then belongs to the new
// sender, and its former owner is refused.
func TestOperatorOverride(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	if status, body := f.post(t, "application/json", ownedRelease(labelDPID, "label-1", 1, "Come Down")); status != http.StatusAccepted {
		t.Fatalf("label's delivery: %d %v", status, body)
	}
	const newDist = "PADPIDA0000000NEW"
	d, err := ingest.Parse(ingest.FormatJSON, []byte(ownedRelease(newDist, "new-1", 3, "Come Down (New Distributor)")))
	if err != nil {
		t.Fatal(err)
	}
	d.Override = true
	res, err := f.svc.Submit(ctx, d)
	if err != nil || res.Status != "accepted" || !strings.Contains(res.Reason, newDist) {
		t.Fatalf("override: %v %+v", err, res)
	}
	if got := f.title(t); got != "Come Down (New Distributor)" {
		t.Fatalf("title after the override = %q", got)
	}
	status, body := f.post(t, "application/json", ownedRelease(labelDPID, "label-2", 4, "Back"))
	wantRejected(t, "former owner", status, body, http.StatusForbidden, "sender", labelDPID, newDist)
	if status, body := f.post(t, "application/json", ownedRelease(newDist, "new-2", 5, "Newer")); status != http.StatusAccepted {
		t.Fatalf("new owner's update: %d %v", status, body)
	}
}

// TestMessageAddressedElsewhereIsRejected: a message naming recipients
// none of which is catalog (ingest.DefaultDPID here) is rejected and
// stores nothing; one addressed to catalog, or with an empty recipient as
// real feeds send, is taken.
func TestMessageAddressedElsewhereIsRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	doc := ernOf(t, ownedRelease(labelDPID, "label-1", 1, "Come Down"))
	other := strings.Replace(doc, "<PartyId>"+ingest.DefaultDPID+"</PartyId>", "<PartyId>PADPIDA0000000OTHER</PartyId>", 1)
	status, body := f.post(t, "application/xml", other)
	wantRejected(t, "ERN to another recipient", status, body, http.StatusBadRequest, "/NewReleaseMessage/MessageHeader/MessageRecipient/PartyId",
		`"PADPIDA0000000OTHER"`, ingest.DefaultDPID)
	j := strings.Replace(ownedRelease(labelDPID, "label-1", 1, "Come Down"), `"sender"`, `"recipient":"PADPIDA0000000OTHER","sender"`, 1)
	status, body = f.post(t, "application/json", j)
	wantRejected(t, "JSON to another recipient", status, body, http.StatusBadRequest, "recipient", "PADPIDA0000000OTHER")
	if n, size := f.streams(t), f.logSize(t); n != 0 || size != 0 {
		t.Fatalf("%d streams, %d records after misaddressed messages, want none", n, size)
	}

	empty := strings.Replace(doc, "<PartyId>"+ingest.DefaultDPID+"</PartyId>", `<PartyId IsDPID="true"/>`, 1)
	if status, body := f.post(t, "application/xml", empty); status != http.StatusAccepted {
		t.Fatalf("ERN with an empty recipient: %d %v", status, body)
	}
	if status, body := f.post(t, "application/xml", strings.Replace(doc, "label-1", "label-2", -1)); status != http.StatusOK || body["status"] != "unchanged" {
		t.Fatalf("ERN addressed to catalog: %d %v", status, body)
	}
}

// TestFutureMessageIsRejected: a creation time beyond the clock skew is
// rejected (ERN and JSON, release and purge) and stores nothing.
func TestFutureMessageIsRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	future := strings.Replace(ownedRelease(labelDPID, "label-1", 1, "Come Down"), "2024-10-01T00:00:00Z", "9999-12-31T00:00:00Z", 1)
	status, body := f.post(t, "application/json", future)
	wantRejected(t, "JSON", status, body, http.StatusBadRequest, "messageCreated", "9999-12-31T00:00:00Z", "in the future", "5m0s")
	status, body = f.post(t, "application/xml", ernOf(t, future))
	wantRejected(t, "ERN", status, body, http.StatusBadRequest, "/NewReleaseMessage/MessageHeader/MessageCreatedDateTime", "in the future")
	soon := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	status, body = f.post(t, "application/json", `{"messageId":"p","sender":"`+labelDPID+`","messageCreated":"`+soon+`","purge":{"upc":"00724349501058"}}`)
	wantRejected(t, "purge an hour ahead", status, body, http.StatusBadRequest, "messageCreated", soon)
	if n, size := f.streams(t), f.logSize(t); n != 0 || size != 0 {
		t.Fatalf("%d streams, %d records after future messages, want none", n, size)
	}
	// Within the skew is fine.
	near := time.Now().Add(time.Minute).UTC().Format(time.RFC3339)
	if status, body := f.post(t, "application/json", strings.Replace(future, "9999-12-31T00:00:00Z", near, 1)); status != http.StatusAccepted {
		t.Fatalf("a minute ahead: %d %v", status, body)
	}
}

// TestStreamWrittenBeforeOwnership: a stream stored before this change has
// no owners and may hold a far-future message. It belongs to the sender of
// that message, whose next update is applied (not stale); another sender's
// is refused.
func TestStreamWrittenBeforeOwnership(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	if status, body := f.post(t, "application/json", ownedRelease(labelDPID, "label-1", 1, "Come Down")); status != http.StatusAccepted {
		t.Fatalf("delivery: %d %v", status, body)
	}
	// What the old code stored: no owners, and the future-dated message it
	// accepted.
	if _, err := f.pool.Exec(context.Background(), `update release_streams
		set state = jsonb_set(state::jsonb - 'owners', '{message,Created}', '"9999-12-31T00:00:00Z"')`); err != nil {
		t.Fatal(err)
	}
	status, body := f.post(t, "application/json", ownedRelease(evilDPID, "evil-1", 2, "Owned"))
	wantRejected(t, "foreign update", status, body, http.StatusForbidden, "sender", evilDPID, labelDPID)
	status, body = f.post(t, "application/json", ownedRelease(labelDPID, "label-2", 2, "Come Down (Remastered)"))
	if status != http.StatusAccepted || body["status"] != "accepted" {
		t.Fatalf("owner's update after a future-dated message: %d %v", status, body)
	}
	var owners, created string
	if err := f.pool.QueryRow(context.Background(), `select state->>'owners', state->'message'->>'Created' from release_streams`).Scan(&owners, &created); err != nil {
		t.Fatal(err)
	}
	if owners != `["`+labelDPID+`"]` || created != "2024-10-02T00:00:00Z" {
		t.Fatalf("state after the update: owners %s, message created %s", owners, created)
	}
	// Ordering works again: the older first message is stale.
	if status, body := f.post(t, "application/json", ownedRelease(labelDPID, "label-1", 1, "Come Down")); status != http.StatusOK || body["status"] != "stale" {
		t.Fatalf("older message: %d %v", status, body)
	}
}

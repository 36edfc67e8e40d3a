package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/catalog-org/catalog/testenv"
)

// TestGatewayBindsSendersToTheirParties: through the real gateway and
// ingest, a key bound to PADPIDA-LABEL-A cannot deliver a message claiming
// MessageSender PADPIDA-LABEL-B (403 naming the message and the field,
// nothing stored), even when it sends its own parties header; it delivers
// as its own party; a wildcard key delivers as any party; a key granted
// ingest but bound to no party is refused; with
// CATALOG_INGEST_REQUIRE_PARTIES, ingest refuses a delivery that bypasses
// the gateway.
func TestGatewayBindsSendersToTheirParties(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	labelKey := strings.TrimSpace(s.run(t, "clients", "add", "label-a", "--party", "PADPIDA-LABEL-A"))
	anyKey := strings.TrimSpace(s.run(t, "clients", "add", "aggregator", "--party", "*"))
	noneKey := strings.TrimSpace(s.run(t, "clients", "add", "unbound"))
	for _, k := range []string{labelKey, anyKey, noneKey} {
		s.run(t, "clients", "grant", k, "ingest")
	}
	if out := s.run(t, "clients", "list"); !strings.Contains(out, "PARTIES") || !strings.Contains(out, "PADPIDA-LABEL-A") {
		t.Fatalf("clients list does not show the parties:\n%s", out)
	}
	// Ingest takes deliveries only through the gateway here.
	s.startWith(t, []string{"CATALOG_INGEST_REQUIRE_PARTIES=true"}, "ingest")
	s.start(t, "gateway")
	waitHTTP(t, "http://"+s.ingest+"/healthz")
	waitHTTP(t, "http://"+s.gateway+"/healthz")

	post := func(key, body string, hdr map[string]string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+s.gateway+"/ingest/v1/deliveries?oauth_consumer_key="+key, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	streams := func() int {
		t.Helper()
		var n int
		if err := db.QueryRow(ctx, `select count(*) from release_streams`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	claimB := ownedDelivery("PADPIDA-LABEL-B", "b-1", "2024-03-01T00:00:00Z", "Claimed")
	for name, hdr := range map[string]map[string]string{
		"plain":                        nil,
		"own parties header":           {"X-Catalog-Parties": "*"},
		"parties header in Connection": {"X-Catalog-Parties": "PADPIDA-LABEL-B", "Connection": "X-Catalog-Parties"},
	} {
		status, body := post(labelKey, claimB, hdr)
		var rej struct {
			Status   string
			Message  struct{ Sender, ID string }
			Problems []struct{ Field, Reason string }
		}
		_ = json.Unmarshal([]byte(body), &rej)
		if status != http.StatusForbidden || rej.Status != "rejected" || rej.Message.Sender != "PADPIDA-LABEL-B" || rej.Message.ID != "b-1" ||
			len(rej.Problems) != 1 || rej.Problems[0].Field != "sender" || !strings.Contains(rej.Problems[0].Reason, `may deliver only as "PADPIDA-LABEL-A"`) {
			t.Errorf("%s: label A's key claiming label B: %d %s", name, status, body)
		}
	}
	if n := streams(); n != 0 {
		t.Fatalf("%d release streams after refused deliveries, want 0", n)
	}

	if status, body := post(labelKey, ownedDelivery("PADPIDA-LABEL-A", "a-1", "2024-03-01T00:00:00Z", "Label A's"), nil); status != http.StatusAccepted {
		t.Fatalf("label A's key as label A: %d %s", status, body)
	}
	other := strings.Replace(ownedDelivery("PADPIDA-LABEL-B", "b-2", "2024-03-01T00:00:00Z", "Label B's"), "00602547202871", "00724349501058", 1)
	if status, body := post(anyKey, other, nil); status != http.StatusAccepted {
		t.Fatalf("wildcard key as label B: %d %s", status, body)
	}
	if status, body := post(noneKey, ownedDelivery("PADPIDA-LABEL-C", "c-1", "2024-03-01T00:00:00Z", "C"), nil); status != http.StatusForbidden ||
		!strings.Contains(body, "bound to no DDEX party") {
		t.Fatalf("unbound key: %d %s", status, body)
	}
	// Straight to ingest's internal address, past the gateway: refused.
	resp, err := http.Post("http://"+s.ingest+"/v1/deliveries", "application/json",
		strings.NewReader(ownedDelivery("PADPIDA-LABEL-D", "d-1", "2024-03-01T00:00:00Z", "D")))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "only through the gateway") {
		t.Fatalf("direct delivery with CATALOG_INGEST_REQUIRE_PARTIES=true: %d %s", resp.StatusCode, b)
	}
	if n := streams(); n != 2 {
		t.Fatalf("%d release streams, want 2", n)
	}

	// Rebinding takes effect within the reload interval: label B's own
	// release, through label A's key once it may send as both.
	s.run(t, "clients", "parties", labelKey, "PADPIDA-LABEL-A", "PADPIDA-LABEL-B")
	update := strings.Replace(ownedDelivery("PADPIDA-LABEL-B", "b-3", "2024-04-01T00:00:00Z", "Label B's, updated"), "00602547202871", "00724349501058", 1)
	testenv.Eventually(t, 30*time.Second, func() error {
		if status, body := post(labelKey, update, nil); status != http.StatusAccepted {
			return fmt.Errorf("after rebinding: %d %s", status, body)
		}
		return nil
	})
}

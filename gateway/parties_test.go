package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
)

// TestPartiesReachIngestOnly: the gateway sends ingest the parties the
// client may deliver as, never a value the caller wrote (even one a
// Connection header names), sends no parties to the API, and refuses a
// key granted ingest but bound to no party before anything is proxied.
func TestPartiesReachIngestOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(f.clients.Add(ctx, "label-key", "label-a", "PADPIDA-LABEL-A", "PADPIDA-LABEL-A2", "PADPIDA-LABEL-A"))
	must(f.clients.Add(ctx, "any-key", "aggregator", gateway.AnyParty))
	for _, k := range []string{"label-key", "any-key", "ops-key"} {
		must(f.clients.Grant(ctx, k, gateway.ServiceIngest))
	}
	must(f.clients.Reload(ctx))
	gw := f.gateway(t, gateway.Config{}, nil)
	hostile := map[string]string{gateway.PartiesHeader: "*", "Connection": gateway.PartiesHeader}

	for key, want := range map[string]string{"label-key": "PADPIDA-LABEL-A,PADPIDA-LABEL-A2", "any-key": "*"} {
		resp, _ := doMethod(t, http.MethodPost, gw.URL, "/ingest/v1/deliveries?oauth_consumer_key="+key, hostile)
		if got := (*f.seen.Load()).Values(gateway.PartiesHeader); resp.StatusCode != 200 || len(got) != 1 || got[0] != want {
			t.Errorf("%s: %d, ingest saw %s %q, want %q", key, resp.StatusCode, gateway.PartiesHeader, got, want)
		}
	}
	// The API never sees parties, whatever the caller sends.
	if resp, _ := do(t, gw.URL, "/1.2/track/details?trackId=1&oauth_consumer_key=label-key", hostile); resp.StatusCode != 200 ||
		len((*f.seen.Load()).Values(gateway.PartiesHeader)) != 0 {
		t.Errorf("API: %d, saw %s %q", resp.StatusCode, gateway.PartiesHeader, (*f.seen.Load()).Values(gateway.PartiesHeader))
	}
	// Granted ingest, bound to no party: refused, nothing proxied.
	f.seenURL.Store(new(string))
	resp, body := doMethod(t, http.MethodPost, gw.URL, "/ingest/v1/deliveries?oauth_consumer_key=ops-key", hostile)
	if resp.StatusCode != 403 || !strings.Contains(body, "bound to no DDEX party") || !strings.Contains(body, "catalog clients parties") || *f.seenURL.Load() != "" {
		t.Errorf("no parties: %d %q, upstream saw %q", resp.StatusCode, body, *f.seenURL.Load())
	}
}

// TestClientParties: parties are validated, stored, listed and replaced;
// bad lists change nothing.
func TestClientParties(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	parties := func(key string) []string {
		t.Helper()
		list, err := f.clients.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range list {
			if c.Key == key {
				return c.Parties
			}
		}
		t.Fatalf("no client %s", key)
		return nil
	}
	if got := parties("good-key"); len(got) != 0 {
		t.Fatalf("a new client's parties: %q, want none", got)
	}
	if err := f.clients.SetParties(ctx, "good-key", []string{"PADPIDA-LABEL-A", "PADPIDA2014120301W"}); err != nil {
		t.Fatal(err)
	}
	for name, bad := range map[string][]string{
		"none":              {},
		"wildcard and more": {"*", "PADPIDA-LABEL-A"},
		"comma":             {"PADPIDA-LABEL-A,PADPIDA-LABEL-B"},
		"space":             {"PADPIDA LABEL"},
		"empty":             {""},
		"65 characters":     {strings.Repeat("P", 65)},
		"101 parties":       slices.Repeat([]string{"PADPIDA-LABEL-A"}, 101),
	} {
		if err := f.clients.SetParties(ctx, "good-key", bad); !errors.Is(err, gateway.ErrBadParties) {
			t.Errorf("%s: %v, want ErrBadParties", name, err)
		}
		if err := f.clients.Add(ctx, "new-"+strings.ReplaceAll(name, " ", "-"), name, bad...); len(bad) > 0 && !errors.Is(err, gateway.ErrBadParties) {
			t.Errorf("add with %s: %v, want ErrBadParties", name, err)
		}
	}
	if got := parties("good-key"); !slices.Equal(got, []string{"PADPIDA-LABEL-A", "PADPIDA2014120301W"}) {
		t.Fatalf("parties after refused changes: %q", got)
	}
	if err := f.clients.SetParties(ctx, "good-key", []string{gateway.AnyParty}); err != nil || !slices.Equal(parties("good-key"), []string{"*"}) {
		t.Fatalf("wildcard: %v %q", err, parties("good-key"))
	}
	if err := f.clients.SetParties(ctx, "nobody", []string{"PADPIDA-LABEL-A"}); !errors.Is(err, gatewaypg.ErrNoClient) {
		t.Fatalf("unknown key: %v", err)
	}
}

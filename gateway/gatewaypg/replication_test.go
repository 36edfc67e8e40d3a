package gatewaypg_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/catalog-org/catalog/gateway"
	"github.com/catalog-org/catalog/gateway/gatewaypg"
	"github.com/catalog-org/catalog/testenv"
)

// TestClientsReplicateByLogicalReplication: a region subscribed to the
// central database's publication gets the clients and pins copied, then
// every change (add, pin, disable, unpin, delete) streamed; Publish and
// Subscribe may run again; Status reports the subscription ready with no
// lag; a central server without wal_level=logical is refused by name.
func TestClientsReplicateByLogicalReplication(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := testenv.StartPostgres(t, testenv.PostgresOptions{Settings: map[string]string{"wal_level": "logical"}})
	central := srv.Pool(t, "catalog")
	region := testenv.Postgres(t) // the shared server stands for the region
	name := "catalog_gateway_test_" + testenv.Suffix()
	t.Cleanup(func() {
		if err := gatewaypg.Unsubscribe(context.Background(), region, name); err != nil {
			t.Errorf("unsubscribe: %v", err)
		}
	})

	if err := gatewaypg.Migrate(ctx, central); err != nil {
		t.Fatal(err)
	}
	cs, _ := gatewaypg.New(central, log)
	if err := cs.Add(ctx, "before-key", "before"); err != nil {
		t.Fatal(err)
	}
	if err := cs.Pin(ctx, "before-key", "india", []string{"/track/details"}, 40); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ { // the second time changes nothing
		if err := gatewaypg.Publish(ctx, central); err != nil {
			t.Fatalf("publish #%d: %v", i+1, err)
		}
		if err := gatewaypg.Subscribe(ctx, region, name, srv.URL("catalog")); err != nil {
			t.Fatalf("subscribe #%d: %v", i+1, err)
		}
	}
	rs, _ := gatewaypg.New(region, log)
	// sees waits until the region's copy of key satisfies ok.
	sees := func(what, key string, ok func(c gateway.Client, found bool) bool) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, func() error {
			if err := rs.Reload(ctx); err != nil {
				return err
			}
			c, found, _ := rs.Client(ctx, key)
			if !ok(c, found) {
				return fmt.Errorf("%s: the region has %+v (found %t)", what, c, found)
			}
			return nil
		})
	}
	sees("the initial copy", "before-key", func(c gateway.Client, found bool) bool {
		return found && len(c.Pins) == 1 && c.Pins[0] == gateway.Pin{Route: "/track/details", Region: "india", Share: 40}
	})
	if err := cs.Add(ctx, "after-key", "after"); err != nil {
		t.Fatal(err)
	}
	sees("an added client", "after-key", func(c gateway.Client, found bool) bool {
		return found && c.Enabled && c.Home("/track/details") == gateway.Central
	})
	if err := cs.Pin(ctx, "after-key", "india", nil, 0); err != nil {
		t.Fatal(err)
	}
	sees("a pin", "after-key", func(c gateway.Client, _ bool) bool { return c.Home("/track/details") == "india" })
	if err := cs.SetEnabled(ctx, "after-key", false); err != nil {
		t.Fatal(err)
	}
	sees("a disabled client", "after-key", func(c gateway.Client, _ bool) bool { return !c.Enabled })
	if err := cs.Unpin(ctx, "before-key", nil, true); err != nil {
		t.Fatal(err)
	}
	sees("an unpin", "before-key", func(c gateway.Client, _ bool) bool { return len(c.Pins) == 0 })
	if _, err := central.Exec(ctx, `delete from api_clients where key = 'after-key'`); err != nil {
		t.Fatal(err)
	}
	sees("a deleted client (its pins with it)", "after-key", func(_ gateway.Client, found bool) bool { return !found })

	testenv.Eventually(t, 30*time.Second, func() error {
		st, err := gatewaypg.Status(ctx, region, name, central)
		if err != nil {
			return err
		}
		if !st.Ready() || st.ReceivedLSN == "" || st.LagBytes < 0 {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if _, err := gatewaypg.Status(ctx, region, "catalog_gateway_nowhere", nil); !errors.Is(err, gatewaypg.ErrNoSubscription) {
		t.Errorf("status of a missing subscription: %v, want ErrNoSubscription", err)
	}
	// The shared test server runs with the default wal_level (replica).
	var level string
	if err := region.QueryRow(ctx, "show wal_level").Scan(&level); err != nil {
		t.Fatal(err)
	}
	if level != "logical" {
		if err := gatewaypg.Publish(ctx, region); !errors.Is(err, gatewaypg.ErrNotLogical) {
			t.Errorf("publish on a wal_level=%s server: %v, want ErrNotLogical", level, err)
		}
	}
	// A stopped central: the region keeps its copy; dropping the
	// subscription then leaves the slot behind, and says so.
	srv.Stop(t)
	if err := rs.Reload(ctx); err != nil {
		t.Fatalf("the region's copy without the central server: %v", err)
	}
	if c, ok, _ := rs.Client(ctx, "before-key"); !ok || !c.Enabled {
		t.Errorf("before-key in the region after the central server stopped: %+v %t", c, ok)
	}
	if err := gatewaypg.Unsubscribe(ctx, region, name); !errors.Is(err, gatewaypg.ErrSlotLeft) {
		t.Errorf("unsubscribe without the central server: %v, want ErrSlotLeft", err)
	}
}

// TestPinValidation: pins name a valid region, an API route prefix (with
// or without the version prefix), and shares adding up to at most 100%.
func TestPinValidation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testenv.Postgres(t)
	if err := gatewaypg.Migrate(ctx, pool); err != nil {
		t.Fatal(err)
	}
	s, _ := gatewaypg.New(pool, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := s.Add(ctx, "k", "n"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		region string
		routes []string
		share  int
		want   error
	}{
		{"India", nil, 0, gateway.ErrBadRegion},
		{"india", []string{"/ingest/v1/releases"}, 0, gateway.ErrBadPin},
		{"india", []string{"/track/det"}, 0, gateway.ErrBadPin},
		{"india", []string{"track/details"}, 0, gateway.ErrBadPin},
		{"india", nil, 101, gatewaypg.ErrBadShare},
		{"india", []string{"/1.2/track/details/"}, 60, nil},
		{"eu-west", []string{"/release"}, 40, nil},
		{"central", []string{"/party"}, 1, gatewaypg.ErrBadShare},
	} {
		err := s.Pin(ctx, "k", c.region, c.routes, c.share)
		if (c.want == nil) != (err == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("pin %s %v %d%%: %v, want %v", c.region, c.routes, c.share, err, c.want)
		}
	}
	if err := s.Pin(ctx, "nobody", "india", nil, 0); !errors.Is(err, gatewaypg.ErrNoClient) {
		t.Errorf("pin of an unknown key: %v", err)
	}
	c, err := s.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	want := []gateway.Pin{{Route: "/release", Region: "eu-west", Share: 40}, {Route: "/track/details", Region: "india", Share: 60}}
	if fmt.Sprint(c.Pins) != fmt.Sprint(want) {
		t.Errorf("pins %v, want %v", c.Pins, want)
	}
	// central serves /party/releases: its part is what the shares leave.
	if got := c.DailyLimitIn(gateway.Central); got != 0 {
		t.Errorf("central's part: %d, want 0 (india 60%% + eu-west 40%%)", got)
	}
}

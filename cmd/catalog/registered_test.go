package main_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/catalog-org/catalog/events"
)

// TestRegisteredProjectionsAndEventTypes lists what the binary registers:
// the projections `catalog project` runs and `catalog projections`
// operates (each one also runs the projection contract tests:
// TestRebuildIsDeterministic, TestReplaySurvivesKillsAndSharing,
// TestPoisonParkingAndRetryForEveryProjection), and the
// event types they consume. A name the registry does not know is refused
// with an error naming it and the registered ones.
func TestRegisteredProjectionsAndEventTypes(t *testing.T) {
	t.Parallel()
	names := registeredProjections(t)
	t.Logf("registered projections: %s", strings.Join(names, ", "))
	if want := []string{"track-details", "identifiers"}; !slices.Equal(names, want) {
		t.Errorf("registered projections %v, want %v", names, want)
	}
	var types []string
	for _, ty := range events.Types() {
		types = append(types, ty.Name)
	}
	t.Logf("registered event types: %s", strings.Join(types, ", "))
	slices.Sort(types)
	want := []string{"catalog.release.deals-replaced", "catalog.release.delivered", "catalog.release.metadata-changed",
		"catalog.release.owners-changed", "catalog.release.purged", "catalog.release.taken-down", "catalog.release.tracks-changed"}
	if !slices.Equal(types, want) {
		t.Errorf("registered event types %v, want %v", types, want)
	}

	out, err := exec.Command(catalogBin, "projections", "hash", "no-such-projection").CombinedOutput()
	if err == nil || !strings.Contains(string(out), `unknown projection "no-such-projection" (registered: `+strings.Join(names, ", ")+")") {
		t.Errorf("hash of an unknown projection: err %v, output %q", err, out)
	}
	cmd := exec.Command(catalogBin, "projections", "list")
	cmd.Env = append(cmd.Environ(), "CATALOG_PROJECTIONS=track-details,no-such-projection")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), `CATALOG_PROJECTIONS: unknown projection "no-such-projection"`) {
		t.Errorf("CATALOG_PROJECTIONS naming an unknown projection: err %v, output %q", err, out)
	}
}

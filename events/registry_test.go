package events_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/catalog-org/catalog/domain/release"
	"github.com/catalog-org/catalog/events"
)

// TestRegisteredEventTypes lists the registered event types with their
// schema versions: a new event type shows up here by its one
// registration (release.EventTypes).
func TestRegisteredEventTypes(t *testing.T) {
	var got []string
	for _, typ := range events.Types() {
		got = append(got, typ.Name+" v"+string(rune('0'+typ.Version)))
		t.Logf("%s schema v%d, %d upcasters", typ.Name, typ.Version, len(typ.Upcasters))
	}
	want := []string{
		"catalog.release.deals-replaced v1", "catalog.release.delivered v3", "catalog.release.metadata-changed v1",
		"catalog.release.owners-changed v1", "catalog.release.purged v1", "catalog.release.taken-down v1", "catalog.release.tracks-changed v1",
	}
	if !slices.Equal(got, want) {
		t.Errorf("registered types = %q, want %q", got, want)
	}
}

// TestDecodePayloadIsTyped decodes each kind of payload through the
// registry into its typed value, passes an unknown type over, upcasts a
// v1 delivery and refuses a payload that does not decode.
func TestDecodePayloadIsTyped(t *testing.T) {
	env := func(typ string, version int, data string) events.Envelope {
		return events.Envelope{ID: uuid.New(), Type: typ, SchemaVersion: version, Source: "/test", Subject: "x", Sequence: 3,
			Time: time.Now(), Data: json.RawMessage(data)}
	}
	_, p, ok, err := events.DecodePayload(env(release.TypePurged, 1, `{"releaseId":7,"upc":"5012345678900"}`))
	if err != nil || !ok {
		t.Fatalf("purged: %v %v", ok, err)
	}
	if pu, isPurged := p.(release.Purged); !isPurged || pu.ReleaseID != 7 || pu.UPC != "5012345678900" {
		t.Errorf("purged payload = %#v", p)
	}
	if rp, isRelease := p.(release.Payload); !isRelease || rp.Release() != 7 {
		t.Errorf("purged is not a release.Payload of release 7: %#v", p)
	}
	if _, p, ok, err := events.DecodePayload(env("catalog.other.thing", 1, `{}`)); ok || err != nil || p != nil {
		t.Errorf("unknown type: %v %v %v", p, ok, err)
	}
	up, p, ok, err := events.DecodePayload(env(release.TypeDelivered, 1, `{"releaseId":1,"upc":"00724349501058","title":"T",
		"artist":{"id":7,"name":"A"},"tracks":[],"availability":[{"territory":"GB","downloadFrom":"1997-07-03T00:00:00Z"}]}`))
	if err != nil || !ok || up.SchemaVersion != 3 {
		t.Fatalf("v1 delivered: %v %v v%d", ok, err, up.SchemaVersion)
	}
	if d := p.(release.Delivered); d.ArtistID != 7 || len(d.Deals) != 1 || d.Deals[0].UseTypes[0] != "PermanentDownload" {
		t.Errorf("upcast delivered = %+v", d)
	}
	_, _, _, err = events.DecodePayload(env(release.TypeTakenDown, 1, `{"releaseId":"seven"}`))
	if !errors.Is(err, events.ErrMalformed) || !strings.Contains(err.Error(), release.TypeTakenDown) {
		t.Errorf("bad payload: %v", err)
	}
	_, _, _, err = events.DecodePayload(env(release.TypePurged, 9, `{"releaseId":7}`))
	if !errors.Is(err, events.ErrMalformed) || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer version: %v", err)
	}
}

// TestRegistryRefusesIncompleteTypes: a type without an upcaster from an
// older version, registered twice, or whose constructor makes another
// type's payload is refused when the registry is built.
func TestRegistryRefusesIncompleteTypes(t *testing.T) {
	purged := func() any { return &release.Purged{} }
	for name, types := range map[string][]events.Type{
		"no upcaster":       {{Name: release.TypePurged, Version: 2, New: purged}},
		"twice":             {{Name: release.TypePurged, Version: 1, New: purged}, {Name: release.TypePurged, Version: 1, New: purged}},
		"wrong payload":     {{Name: release.TypeDelivered, Version: 1, New: purged}},
		"no constructor":    {{Name: release.TypePurged, Version: 1}},
		"version below one": {{Name: release.TypePurged, New: purged}},
	} {
		if _, err := events.NewRegistry(types...); err == nil {
			t.Errorf("%s: registry built", name)
		}
	}
}

package release_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/catalog-org/catalog/domain/release"
)

const (
	owner = "PADPIDA0000000001"
	evil  = "PADPIDA0000000EVIL"
)

// from is a message from sender created on day of January 2024.
func from(sender, id string, day int) release.Message {
	return release.Message{Sender: sender, ID: id, Created: time.Date(2024, 1, day, 12, 0, 0, 0, time.UTC)}
}

// delivered is exampleDraft's release as its owner first delivered it.
func delivered(t *testing.T) release.State {
	t.Helper()
	d := decide(t, release.State{ReleaseID: 3}, mustNew(t, exampleDraft()), exampleIDs)
	if !slices.Equal(d.Next.Owners, []string{owner}) {
		t.Fatalf("owners after the first delivery = %q, want [%s]", d.Next.Owners, owner)
	}
	// The log carries them: the first delivery's event names its owners.
	if ev, ok := d.Events[0].Payload.(release.Delivered); !ok || !slices.Equal(ev.Owners, []string{owner}) {
		t.Fatalf("first delivery's event: %s owners %q", types(d), ev.Owners)
	}
	return d.Next
}

// replacement is exampleDraft rewritten by another message: new title,
// one track, no deals.
func replacement(m release.Message) release.Draft {
	d := exampleDraft()
	d.Message = m
	d.Title = "Replaced"
	d.Tracks = d.Tracks[:1]
	d.Deals = nil
	return d
}

func wantNotOwner(t *testing.T, what string, err error, party string) {
	t.Helper()
	var oe *release.OwnershipError
	if !errors.As(err, &oe) || !errors.Is(err, release.ErrNotOwner) {
		t.Fatalf("%s: err = %v, want an *OwnershipError", what, err)
	}
	msg := err.Error()
	for _, want := range []string{party + "/", "sender: ", `"` + party + `" does not own release 00724349501058`, `belongs to "` + owner + `"`} {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: error %q does not say %q", what, msg, want)
		}
	}
	if oe.Field != "sender" || !slices.Equal(oe.Owners, []string{owner}) {
		t.Errorf("%s: field %q owners %q", what, oe.Field, oe.Owners)
	}
}

func TestForeignSenderIsRejected(t *testing.T) {
	t.Parallel()
	cur := delivered(t)

	// A newer replacement, a takedown (no deals) and a purge from a party
	// that does not own the release: each is an error, with no decision.
	d, err := release.Decide(cur, mustNew(t, replacement(from(evil, "evil-1", 9))), exampleIDs, release.BySender)
	wantNotOwner(t, "replacement", err, evil)
	if len(d.Events) != 0 || d.Outcome != "" {
		t.Errorf("replacement decided %s %s", d.Outcome, types(d))
	}
	p, err := release.NewPurge(release.PurgeDraft{Message: from(evil, "evil-2", 9), UPC: "00724349501058"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = release.DecidePurge(cur, p, release.BySender)
	wantNotOwner(t, "purge", err, evil)

	// Naming the owner as the party it sends for is what a distributor
	// does for a label: that is the owner speaking.
	onBehalf := replacement(from("PADPIDA0000000002", "dist-1", 10))
	onBehalf.Message.OnBehalfOf = owner
	if d := decide(t, cur, mustNew(t, onBehalf), exampleIDs); d.Outcome != release.Accepted || !slices.Equal(d.Next.Owners, []string{owner}) {
		t.Errorf("on behalf of the owner: %s, owners %q", d.Outcome, d.Next.Owners)
	}
}

func TestOwnerUpdatesAndPurges(t *testing.T) {
	t.Parallel()
	cur := delivered(t)
	d := decide(t, cur, mustNew(t, replacement(from(owner, "m2", 2))), exampleIDs)
	if d.Outcome != release.Accepted || d.Next.Metadata.Title != "Replaced" || !slices.Equal(d.Next.Owners, []string{owner}) {
		t.Fatalf("owner's update: %s %q owners %q", d.Outcome, d.Next.Metadata.Title, d.Next.Owners)
	}
	p, _ := release.NewPurge(release.PurgeDraft{Message: from(owner, "m3", 3), UPC: "00724349501058"})
	pd := decidePurge(t, d.Next, p)
	if types(pd) != release.TypePurged || !slices.Equal(pd.Next.Owners, []string{owner}) {
		t.Fatalf("owner's purge: %s owners %q", types(pd), pd.Next.Owners)
	}
	// A purged release still belongs to its owners: another party cannot
	// deliver it anew, the owner can.
	_, err := release.Decide(pd.Next, mustNew(t, replacement(from(evil, "evil", 4))), exampleIDs, release.BySender)
	wantNotOwner(t, "delivery after the purge", err, evil)
	back := exampleDraft()
	back.Message = from(owner, "m5", 5)
	if d := decide(t, pd.Next, mustNew(t, back), exampleIDs); types(d) != release.TypeDelivered {
		t.Fatalf("owner after the purge: %s", types(d))
	}
}

func TestOperatorOverrideTransfersTheRelease(t *testing.T) {
	t.Parallel()
	cur := delivered(t)
	newOwner := "PADPIDA0000000NEW"
	d, err := release.Decide(cur, mustNew(t, replacement(from(newOwner, "n1", 9))), exampleIDs, release.ByOperator)
	if err != nil {
		t.Fatal(err)
	}
	if d.Outcome != release.Accepted || d.Next.Metadata.Title != "Replaced" || !slices.Equal(d.Next.Owners, []string{newOwner}) ||
		!strings.Contains(d.Reason, `now belongs to "`+newOwner+`"`) {
		t.Fatalf("override: %s %q owners %q reason %q", d.Outcome, d.Next.Metadata.Title, d.Next.Owners, d.Reason)
	}
	// The former owner no longer may change it; the new one may.
	_, err = release.Decide(d.Next, mustNew(t, replacement(from(owner, "m10", 10))), exampleIDs, release.BySender)
	if !errors.Is(err, release.ErrNotOwner) {
		t.Fatalf("former owner: %v", err)
	}
	upd := replacement(from(newOwner, "n2", 11))
	upd.Title = "Newer"
	if d := decide(t, d.Next, mustNew(t, upd), exampleIDs); d.Outcome != release.Accepted {
		t.Fatalf("new owner: %s", d.Outcome)
	}

	// An override with the same content transfers the release and changes
	// nothing else: the transfer is one owners-changed event in the log.
	same := exampleDraft()
	same.Message = from(newOwner, "n3", 12)
	u, err := release.Decide(cur, mustNew(t, same), exampleIDs, release.ByOperator)
	if err != nil || u.Outcome != release.Accepted || !slices.Equal(u.Next.Owners, []string{newOwner}) ||
		types(u) != release.TypeOwnersChanged || u.Next.Version != cur.Version+1 {
		t.Fatalf("transfer without changes: %v %s %s owners %q version %d", err, u.Outcome, types(u), u.Next.Owners, u.Next.Version)
	}
	if oc := u.Events[0].Payload.(release.OwnersChanged); oc.ReleaseID != cur.ReleaseID || !slices.Equal(oc.Owners, []string{newOwner}) {
		t.Fatalf("owners-changed: %+v", oc)
	}
	// The new owner's own resend records no transfer.
	if types(d) == release.TypeOwnersChanged {
		t.Fatalf("override with new content: %s", types(d))
	}

	// An operator may purge another party's release.
	p, _ := release.NewPurge(release.PurgeDraft{Message: from(newOwner, "n4", 13), UPC: "00724349501058"})
	if pd, err := release.DecidePurge(cur, p, release.ByOperator); err != nil || types(pd) != release.TypePurged+","+release.TypeOwnersChanged ||
		pd.Next.Version != cur.Version+2 {
		t.Fatalf("operator purge: %v %s version %d", err, types(pd), pd.Next.Version)
	}
}

// A state stored before owners were recorded belongs to the sender of its
// last applied message; the first decision about it records that owner.
func TestStateWithoutOwnerBelongsToItsLastSender(t *testing.T) {
	t.Parallel()
	legacy := delivered(t)
	legacy.Owners = nil
	if got := legacy.OwnedBy(); !slices.Equal(got, []string{owner}) {
		t.Fatalf("OwnedBy = %q", got)
	}
	_, err := release.Decide(legacy, mustNew(t, replacement(from(evil, "evil", 9))), exampleIDs, release.BySender)
	wantNotOwner(t, "foreign update of a legacy state", err, evil)
	d := decide(t, legacy, mustNew(t, replacement(from(owner, "m2", 2))), exampleIDs)
	if d.Outcome != release.Accepted || !slices.Equal(d.Next.Owners, []string{owner}) || d.Reason != "" {
		t.Fatalf("owner's update of a legacy state: %s owners %q reason %q", d.Outcome, d.Next.Owners, d.Reason)
	}
	if got := (release.State{ReleaseID: 1}).OwnedBy(); len(got) != 0 {
		t.Errorf("a release never delivered is owned by %q", got)
	}
}

// The JSON form may leave the sender out: such a release belongs to the
// anonymous sender, and named senders may not change it (nor it theirs).
func TestAnonymousSender(t *testing.T) {
	t.Parallel()
	anon := exampleDraft()
	anon.Message = release.Message{ID: "a1", Created: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	first := decide(t, release.State{ReleaseID: 4}, mustNew(t, anon), exampleIDs)
	if !slices.Equal(first.Next.Owners, []string{""}) {
		t.Fatalf("owners = %q", first.Next.Owners)
	}
	_, err := release.Decide(first.Next, mustNew(t, replacement(from(evil, "evil", 9))), exampleIDs, release.BySender)
	if !errors.Is(err, release.ErrNotOwner) || !strings.Contains(err.Error(), "anonymous sender") {
		t.Fatalf("named sender over an anonymous release: %v", err)
	}
	upd := replacement(release.Message{ID: "a2", Created: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)})
	if d := decide(t, first.Next, mustNew(t, upd), exampleIDs); d.Outcome != release.Accepted {
		t.Fatalf("anonymous update: %s", d.Outcome)
	}
	_, err = release.Decide(delivered(t), mustNew(t, upd), exampleIDs, release.BySender)
	if !errors.Is(err, release.ErrNotOwner) {
		t.Fatalf("anonymous over a named owner's release: %v", err)
	}
}

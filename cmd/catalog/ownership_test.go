package main_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// ownedDelivery is a JSON delivery of one release from sender.
func ownedDelivery(sender, id, created, title string) string {
	return fmt.Sprintf(`{"messageId":%q,"sender":%q,"messageCreated":%q,"upc":"00602547202871","title":%q,"artist":"Owner Test",
		"tracks":[{"isrc":"GBAAA2400101","title":"One","duration":"PT3M","disc":1,"number":1}],
		"availability":[{"territory":"GB","download":"2024-01-01"}]}`, id, sender, created, title)
}

// TestIngestOverrideOwner: `catalog ingest` refuses another party's
// delivery of a release and exits non-zero; with --override-owner it
// applies it and the release changes hands.
func TestIngestOverrideOwner(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	dir := func(name, body string) string {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	label := dir("label.json", ownedDelivery("PADPIDA0000000001", "label-1", "2024-03-01T00:00:00Z", "Label's Title"))
	foreign := dir("foreign.json", ownedDelivery("PADPIDA0000000NEW", "new-1", "2024-04-01T00:00:00Z", "New Distributor's Title"))

	if out := s.run(t, "ingest", "--quiet", label); !strings.Contains(out, "1 accepted") {
		t.Fatalf("label's delivery: %s", out)
	}
	cmd := exec.Command(catalogBin, "ingest", "--quiet", foreign)
	cmd.Env = s.env
	out, err := cmd.Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "1 rejected") ||
		!strings.Contains(string(out), `"PADPIDA0000000NEW" does not own release 00602547202871`) {
		t.Fatalf("foreign delivery: %v\n%s", err, out)
	}

	ctx := ctxT(t)
	db, err := pgx.Connect(ctx, s.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())
	state := func() (title, owners string) {
		t.Helper()
		if err := db.QueryRow(ctx, `select state->'metadata'->>'title', state->>'owners' from release_streams`).Scan(&title, &owners); err != nil {
			t.Fatal(err)
		}
		return title, owners
	}
	if title, owners := state(); title != "Label's Title" || owners != `["PADPIDA0000000001"]` {
		t.Fatalf("after the refused delivery: %q owned by %s", title, owners)
	}

	if out := s.run(t, "ingest", "--quiet", "--override-owner", foreign); !strings.Contains(out, "1 accepted") {
		t.Fatalf("override: %s", out)
	}
	if title, owners := state(); title != "New Distributor's Title" || owners != `["PADPIDA0000000NEW"]` {
		t.Fatalf("after the override: %q owned by %s", title, owners)
	}
}

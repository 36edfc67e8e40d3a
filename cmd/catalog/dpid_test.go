package main

import (
	"strings"
	"testing"

	"github.com/catalog-org/catalog/ingest"
)

// TestDPIDSetting: CATALOG_DPID lists the party ids catalog answers to as
// a message's recipient, ingest.DefaultDPID by default; anything that is
// not a party id, or too many of them, is refused by name.
func TestDPIDSetting(t *testing.T) {
	c, err := loadConfig(envOf(nil))
	if err != nil || len(c.DPIDs) != 1 || c.DPIDs[0] != ingest.DefaultDPID {
		t.Fatalf("default: %q %v, want [%s]", c.DPIDs, err, ingest.DefaultDPID)
	}
	c, err = loadConfig(envOf(map[string]string{"CATALOG_DPID": " PADPIDA2014120301W, DPID_OF_THE_RECIPIENT "}))
	if err != nil || strings.Join(c.DPIDs, ",") != "PADPIDA2014120301W,DPID_OF_THE_RECIPIENT" {
		t.Fatalf("two ids: %q %v", c.DPIDs, err)
	}
	for _, bad := range []string{"PADPIDA1,,PADPIDA2", "PADPIDA 1", strings.Repeat("P", 65), strings.Repeat("PADPIDA1,", 21) + "PADPIDA1"} {
		_, err := loadConfig(envOf(map[string]string{"CATALOG_DPID": bad}))
		if err == nil || !strings.Contains(err.Error(), "CATALOG_DPID") {
			t.Errorf("%.40q: %v, want an error naming the setting", bad, err)
		}
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/otaudit/otaudit/agent/demo"
)

func TestOutboxCommands(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	drop := filepath.Join(dir, "drop")
	zone := filepath.Join(dir, "zone.yaml")
	cfg := string(demo.ZoneYAML) + "\nexport:\n  - format: json\n    directory: drop\n"
	if err := os.WriteFile(zone, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	capture, _ := writeDemoCapture(t, dir)
	if code, _, stderr := runCLI(t, "scan", "--db", db, "--config", zone, "--pcap", capture); code != exitOK {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "outbox", "deliver", "--db", filepath.Join(dir, "typo.db")); code != exitError || !strings.Contains(stderr, "no otaudit database") {
		t.Fatalf("deliver from a missing store: exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); err == nil {
		t.Fatal("deliver created a store at a wrong path")
	}
	if code, out, _ := runCLI(t, "outbox", "--db", db); code != exitOK || !strings.Contains(out, "The outbox is empty (0 item(s) delivered so far)") {
		t.Fatalf("empty outbox: exit %d: %s", code, out)
	}
	if code, _, stderr := runCLI(t, "outbox", "queue", "--db", db); code != exitUsage || !strings.Contains(stderr, "no export targets") {
		t.Fatalf("queue without targets: exit %d: %s", code, stderr)
	}
	code, out, stderr := runCLI(t, "outbox", "queue", "--db", db, "--config", zone)
	if code != exitOK || !strings.Contains(out, "Scan 1: 1 file(s) queued, 0 already in the outbox.") {
		t.Fatalf("queue: exit %d: %s %s", code, out, stderr)
	}

	// The drop directory does not exist yet: the attempt fails, the item
	// stays, and the listing says why.
	code, out, stderr = runCLI(t, "outbox", "deliver", "--db", db, "--config", zone)
	if code != exitError || !strings.Contains(out, "1 failed") || !strings.Contains(stderr, "could not be delivered") {
		t.Fatalf("deliver into a missing directory: exit %d\n%s\n%s", code, out, stderr)
	}
	code, out, _ = runCLI(t, "outbox", "--db", db, "--json")
	var listing outboxJSON
	if code != exitOK || json.Unmarshal([]byte(out), &listing) != nil {
		t.Fatalf("outbox --json: exit %d: %s", code, out)
	}
	if len(listing.Items) != 1 || listing.Stats.Items != 1 {
		t.Fatalf("listing: %+v", listing)
	}
	it := listing.Items[0]
	if it.Attempts != 1 || it.Format != "json" || it.Name != "otaudit.json" || !strings.Contains(it.LastError, "directory does not exist") ||
		it.NextAttempt.IsZero() || !strings.Contains(it.TargetLabel, drop) {
		t.Fatalf("pending item: %+v", it)
	}
	if code, out, _ := runCLI(t, "outbox", "--db", db); code != exitOK || !strings.Contains(out, "directory does not exist") ||
		!strings.Contains(out, "otaudit.json") || !strings.Contains(out, "1 item(s)") {
		t.Fatalf("outbox table: %s", out)
	}

	// `deliver` ignores the backoff: with the directory there, it goes now.
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr := runCLI(t, "outbox", "deliver", "--db", db, "--config", zone); code != exitOK || !strings.Contains(out, "1 delivered") {
		t.Fatalf("deliver: exit %d\n%s\n%s", code, out, stderr)
	}
	files, _ := filepath.Glob(filepath.Join(drop, "*_otaudit.json"))
	if len(files) != 1 {
		t.Fatalf("drop directory holds %v", files)
	}

	// Items for targets the configuration in use does not name are left
	// alone, and the command says so.
	if code, _, _ := runCLI(t, "outbox", "queue", "--db", db, "--config", zone, "--scan", "1"); code != exitOK {
		t.Fatal("re-queue failed")
	}
	if code, _, stderr := runCLI(t, "outbox", "deliver", "--db", db); code != exitError || !strings.Contains(stderr, "pass the agent's --config") {
		t.Fatalf("deliver without the configuration: exit %d: %s", code, stderr)
	}
	_, out, _ = runCLI(t, "outbox", "--db", db, "--json")
	if err := json.Unmarshal([]byte(out), &listing); err != nil || len(listing.Items) != 1 || listing.Items[0].Attempts != 0 {
		t.Fatalf("after an unconfigured deliver: %+v %v", listing, err)
	}
	id := strconv.FormatUint(listing.Items[0].ID, 10)
	if code, _, _ := runCLI(t, "outbox", "drop", "--db", db, "x"); code != exitUsage {
		t.Fatalf("drop x: exit %d", code)
	}
	if code, _, stderr := runCLI(t, "outbox", "drop", "--db", db, "999"); code != exitError || !strings.Contains(stderr, "not found") {
		t.Fatalf("drop 999: exit %d: %s", code, stderr)
	}
	if code, out, _ := runCLI(t, "outbox", "drop", "--db", db, id); code != exitOK || !strings.Contains(out, "dropped "+id) {
		t.Fatalf("drop %s: exit %d: %s", id, code, out)
	}
	if _, out, _ := runCLI(t, "outbox", "--db", db); !strings.Contains(out, "The outbox is empty (1 item(s) delivered so far)") {
		t.Fatalf("after drop: %s", out)
	}
}

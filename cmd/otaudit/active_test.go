package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/discovery"
)

// listenOnDiscoveryPorts binds every default discovery port that is free on
// 127.0.0.1 (the plan aims at exactly these) and counts accepted
// connections, closing each at once.
func listenOnDiscoveryPorts(t *testing.T) (bound []uint16, accepted *atomic.Int64) {
	t.Helper()
	accepted = new(atomic.Int64)
	for _, p := range discovery.DefaultPorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(int(p.Number)))
		if err != nil {
			continue // in use, or no privilege for ports below 1024
		}
		bound = append(bound, p.Number)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				accepted.Add(1)
				c.Close()
			}
		}()
		t.Cleanup(func() { ln.Close(); <-done })
	}
	if len(bound) == 0 {
		t.Skip("no default discovery port is free on 127.0.0.1: cannot watch for connections")
	}
	return bound, accepted
}

// TestActiveDryRunSendsNothing runs the whole CLI path with --dry-run at
// 127.0.0.1, where listeners on the planned ports count connections: none
// may arrive. A real scan of the same target afterwards is the control
// that the listeners would have seen a probe.
func TestActiveDryRunSendsNothing(t *testing.T) {
	bound, accepted := listenOnDiscoveryPorts(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")

	code, out, errOut := runCLI(t, "scan", "--active", "--target", "127.0.0.1", "--dry-run", "--db", db)
	if code != exitOK {
		t.Fatalf("dry-run: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"DRY RUN — nothing is sent", "127.0.0.1", "tcp", "connect", "port 502 (modbus)", "MAX ATTEMPTS", "Limits: 2 requests/s per device, 20/s in the zone"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry-run output lacks %q:\n%s", want, out)
		}
	}
	code, out, errOut = runCLI(t, "scan", "--active", "--target", "127.0.0.1", "--dry-run", "--json", "--db", db)
	if code != exitOK {
		t.Fatalf("dry-run --json: exit %d\n%s", code, errOut)
	}
	var plan []active.PlannedRequest
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("dry-run --json: %v\n%s", err, out)
	}
	planned := map[string]bool{}
	for _, r := range plan {
		if r.Target.String() != "127.0.0.1" || !active.Allowed[r.Protocol][r.Kind] || r.MaxAttempts < 1 {
			t.Errorf("planned %+v", r)
		}
		if r.Protocol == "tcp" {
			planned[r.Detail] = true
		}
	}
	for _, p := range bound {
		if !planned["port "+strconv.Itoa(int(p))+" ("+protocolOf(p)+")"] {
			t.Errorf("plan does not connect to bound port %d", p)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Fatalf("dry-run: %d connection(s) reached the listeners, want none", n)
	}
	if _, err := os.Stat(db); err == nil {
		t.Error("dry-run created the store")
	}

	// Control: the real scan does reach the listeners.
	cfg := filepath.Join(dir, "zone.yaml")
	if err := os.WriteFile(cfg, []byte(`version: 1
zone: {name: loopback}
active:
  enabled: true
  per_device_pps: 1000
  per_zone_pps: 1000
  timeout: 500ms
  retries: 0
  credential_guessing: {enabled: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = runCLI(t, "scan", "--active", "--target", "127.0.0.1", "--config", cfg, "--db", db, "--json")
	if code != exitOK {
		t.Fatalf("active scan: exit %d\n%s\n%s", code, out, errOut)
	}
	if accepted.Load() == 0 {
		t.Fatal("the real scan never reached the listeners: the dry-run check proves nothing")
	}
	var res struct {
		Scan   otaudit.Scan `json:"scan"`
		Active struct {
			Ledger []active.LedgerEntry `json:"ledger"`
		} `json:"active"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if res.Scan.Mode != "active" || len(res.Active.Ledger) == 0 {
		t.Fatalf("scan %+v, %d ledger entries", res.Scan, len(res.Active.Ledger))
	}
	code, out, _ = runCLI(t, "assets", "--db", db, "--json")
	if code != exitOK || !strings.Contains(out, `"ip": "127.0.0.1"`) {
		t.Fatalf("assets after the active scan: exit %d\n%s", code, out)
	}
}

func protocolOf(port uint16) string {
	for _, p := range discovery.DefaultPorts {
		if p.Number == port {
			return p.Protocol
		}
	}
	return ""
}

func TestActiveFlagsNeedActive(t *testing.T) {
	for _, args := range [][]string{
		{"scan", "--target", "10.0.0.1"},
		{"scan", "--dry-run"},
		{"scan", "--exclude", "10.0.0.1"},
		{"scan", "--passive-first"},
		{"scan", "--active", "--target", "10.0.0.1", "--pcap", "x.pcap"},
	} {
		if code, _, stderr := runCLI(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d (%s)", args, code, exitUsage, stderr)
		}
	}
	// A zone file that does not enable probing refuses a real scan.
	dir := t.TempDir()
	cfg := filepath.Join(dir, "zone.yaml")
	if err := os.WriteFile(cfg, []byte("version: 1\nzone: {name: z}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "scan", "--active", "--target", "127.0.0.1", "--config", cfg, "--db", filepath.Join(dir, "o.db"))
	if code != exitError || !strings.Contains(stderr, "active probing is disabled") {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
}

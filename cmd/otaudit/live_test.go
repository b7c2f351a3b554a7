package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otaudit/otaudit/collectors/pcap"
)

func TestLiveFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"scan", "--capture-backend", "afpacket"}, "--capture-backend needs --interface"},
		{[]string{"scan", "--interface", "lo", "--duration", "1s", "--capture-backend", "pf"}, `--capture-backend "pf": want one of socket, afpacket`},
		{[]string{"scan", "--interface", "lo"}, "--interface needs --duration"},
	} {
		if code, _, stderr := runCLI(t, c.args...); code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", c.args, code, stderr, exitUsage, c.want)
		}
	}
	if pcap.CheckBackend(pcap.BackendAFPacket) == nil {
		t.Log("this build has the afpacket backend: its refusal is not tested here")
		return
	}
	// A build without afpacket refuses it before a scan is begun: no
	// failed scan lands in the store.
	db := filepath.Join(t.TempDir(), "o.db")
	code, _, stderr := runCLI(t, "--db", db, "scan", "--interface", "lo", "--duration", "1s", "--capture-backend", "afpacket")
	if code != exitError || !strings.Contains(stderr, "built without the afpacket backend: build it with `go build -tags afpacket`") {
		t.Fatalf("afpacket in a build without it: exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(db); err == nil {
		if code, out, _ := runCLI(t, "--db", db, "--json", "scans"); code != exitOK || strings.Contains(out, `"zone"`) {
			t.Fatalf("a refused backend left a scan in the store (exit %d): %s", code, out)
		}
	}
}

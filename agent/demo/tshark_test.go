package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runTshark runs tshark on file with args and returns its standard output.
// The timeout guards against a hung process; it asserts nothing.
func runTshark(t *testing.T, tshark, file string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, tshark, append([]string{"-n", "-r", file}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("tshark %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}

const tsharkProblems = "_ws.malformed || _ws.expert.severity >= error"

func TestTsharkDecodesCapture(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not on PATH: install Wireshark's tshark to validate the demo capture against its dissectors")
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "demo.pcap")
	if err := WriteCapture(file); err != nil {
		t.Fatal(err)
	}
	if out := runTshark(t, tshark, file, "-Y", tsharkProblems); strings.TrimSpace(out) != "" {
		t.Errorf("tshark reports malformed packets or errors:\n%s", out)
	}

	protocols := map[string]int{}
	for _, line := range strings.Split(runTshark(t, tshark, file, "-T", "fields", "-e", "frame.protocols"), "\n") {
		for _, p := range strings.Split(strings.TrimSpace(line), ":") {
			protocols[p]++
		}
	}
	// Wireshark 4.0 leaves RDP's TLS records to TPKT ("Continuation"); the
	// negotiation itself decodes as tpkt:cotp:rdp.
	for _, want := range []string{"arp", "ntp", "mbtcp", "modbus", "snmp", "telnet", "tpkt", "cotp", "rdp", "opcua", "http"} {
		if protocols[want] == 0 {
			t.Errorf("tshark finds no %s", want)
		}
	}

	// The check above must be able to fail: break one FC 43 object length
	// and tshark has to flag the frame.
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Object 0 (VendorName), its length, its value.
	vendor := append([]byte{0x00, byte(len(plc1BasicIdentity[0].value))}, plc1BasicIdentity[0].value...)
	i := bytes.Index(raw, vendor)
	if i < 0 {
		t.Fatal("FC 43 VendorName object not found in the capture")
	}
	raw[i+1] = 0xf0
	broken := filepath.Join(dir, "broken.pcap")
	if err := os.WriteFile(broken, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if out := runTshark(t, tshark, broken, "-Y", tsharkProblems); strings.TrimSpace(out) == "" {
		t.Error("tshark filter did not flag a deliberately malformed Modbus response")
	}
}

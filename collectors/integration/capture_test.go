//go:build integration

package integration_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// capture is tcpdump writing everything on one interface of otz-audit to a
// pcap file.
type capture struct {
	cmd    *exec.Cmd
	path   string
	done   chan error
	exited bool // done was received: tcpdump has been waited for
	stderr *lockedText
}

// lockedText is tcpdump's stderr, written by the reader goroutine and read
// by the test when something fails.
type lockedText struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedText) add(s string) { l.mu.Lock(); l.b.WriteString(s); l.mu.Unlock() }

func (l *lockedText) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// startCapture starts tcpdump on iface and returns once tcpdump says it is
// listening, so nothing the test sends afterwards can be missed.
func startCapture(t *testing.T, iface string) *capture {
	t.Helper()
	bin, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Skip("tcpdump not installed (.ci/integration.sh installs it)")
	}
	c := &capture{path: filepath.Join(t.TempDir(), iface+".pcap"), done: make(chan error, 1), stderr: &lockedText{}}
	// -U: write every packet as it arrives; --immediate-mode: no kernel
	// block timeout between the wire and tcpdump; -Z root: the pcap is
	// written by root, not by the user tcpdump drops to.
	c.cmd = exec.Command(bin, "-i", iface, "-nn", "-s", "0", "-U", "--immediate-mode", "-B", "4096", "-Z", "root", "-w", c.path)
	errPipe, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errPipe)
		signalled := false
		for sc.Scan() {
			c.stderr.add(sc.Text() + "\n")
			if !signalled && strings.Contains(sc.Text(), "listening on") {
				close(listening)
				signalled = true
			}
		}
		_, _ = io.Copy(io.Discard, errPipe)
		c.done <- c.cmd.Wait()
	}()
	t.Cleanup(func() { c.kill() })
	select {
	case <-listening:
		return c
	case err := <-c.done:
		c.exited = true
		t.Fatalf("tcpdump -i %s exited before listening: %v\n%s", iface, err, c.stderr)
	case <-time.After(20 * time.Second):
		t.Fatalf("tcpdump -i %s did not start listening within 20s", iface)
	}
	return nil
}

// stop sends a marker datagram through the interface, waits until tcpdump
// has written it (so everything before it is in the file too), stops
// tcpdump and returns the pcap's path.
func (c *capture) stop(t *testing.T) string {
	t.Helper()
	nonce := make([]byte, 8)
	_, _ = rand.Read(nonce)
	marker := []byte(captureMarker + hex.EncodeToString(nonce))
	// To the discard port of the SNMP peer: inside the zone, on eth0. An
	// unconnected socket, so the peer's ICMP port-unreachable answers do
	// not fail the next write.
	dst, err := net.ResolveUDPAddr("udp4", zoneHostPort(t, snmpAddr, 9))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatalf("marker: %v", err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, err := conn.WriteTo(marker, dst); err != nil {
			t.Fatalf("marker: %v", err)
		}
		if pcapContains(c.path, marker) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("tcpdump never wrote the end-of-run marker to %s\n%s", c.path, c.stderr)
		case <-tick.C:
		}
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
		c.exited = true
	case <-time.After(10 * time.Second):
		t.Fatal("tcpdump did not stop on SIGTERM") // the cleanup kills it
	}
	return c.path
}

// kill ends a tcpdump that stop did not end (a failed test), by its PID.
func (c *capture) kill() {
	if c.exited {
		return
	}
	_ = c.cmd.Process.Kill()
	<-c.done
	c.exited = true
}

// pcapContains reports whether a (possibly still growing) pcap file holds
// a packet containing b.
func pcapContains(path string, b []byte) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return false
	}
	for {
		data, _, err := r.ReadPacketData()
		if err != nil {
			return false
		}
		if strings.Contains(string(data), string(b)) {
			return true
		}
	}
}

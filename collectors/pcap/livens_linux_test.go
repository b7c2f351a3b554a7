package pcap

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/otaudit/otaudit"
)

// TestLiveSendsNothing proves that passive capture transmits nothing. It
// builds its own pair of network namespaces joined by a veth pair: the
// capturing end has no address and no IPv6 (so the kernel itself has no
// reason to speak), the peer sends SNMP, Modbus/TCP connection attempts and
// 802.1Q-tagged traffic at it. otaudit captures on the silent end; the
// frames that end transmitted (its tx counter, and the peer's rx counter)
// must not move while the capture runs, and the capture must have seen the
// traffic. Root only; nothing leaves the two namespaces.
// It runs once per capture backend of the build, and checks that the
// interface is promiscuous while the capture runs (on a veth every frame
// reaches the socket anyway, so the traffic alone cannot show it).
func TestLiveSendsNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (ip netns); run the package tests as root to prove passive capture sends nothing")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2 `ip` not on PATH: " + err.Error())
	}
	for i, backend := range liveBackends(t) {
		t.Run(backend, func(t *testing.T) { liveSendsNothing(t, backend, i) })
	}
}

func liveSendsNothing(t *testing.T, backend string, n int) {
	nsCap, nsPeer, vCap, vPeer := vethPair(t, n)

	txBefore := linkCounter(t, nsCap, vCap, "tx")
	rxPeerBefore := linkCounter(t, nsPeer, vPeer, "rx")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		mu      sync.Mutex
		results []*Result
	)
	seen := make(chan struct{})
	var once sync.Once
	done := liveInNetns(ctx, nsCap, vCap, LiveOptions{Options: Options{Judge: testJudge}, Flush: 50 * time.Millisecond, Backend: backend}, func(r *Result) error {
		mu.Lock()
		results = append(results, r)
		ok := liveSawPeer(results)
		mu.Unlock()
		if ok {
			once.Do(func() { close(seen) })
		}
		return nil
	})

	// The peer sends until the capture reports what it sent (the capture
	// socket may open after the first datagrams: resending is the
	// synchronisation, not a sleep).
	sendErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := enterNetns(nsPeer); err != nil {
			sendErr <- err
			return
		}
		snmpGet := []byte{0x30, 0x26, 0x02, 0x01, 0x01, 0x04, 0x06, 'p', 'u', 'b', 'l', 'i', 'c', 0xa0, 0x19, 0x02, 0x01, 0x01, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x0e, 0x30, 0x0c, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00, 0x05, 0x00}
		// A VLAN-tagged SNMP datagram written as a raw frame (containers
		// often lack the 8021q module for a VLAN interface).
		tagged, err := taggedSNMPFrame(snmpGet)
		if err != nil {
			sendErr <- err
			return
		}
		raw, err := rawSender(vPeer)
		if err != nil {
			sendErr <- err
			return
		}
		defer raw.close()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, dst := range []string{"10.99.0.1:161", "10.98.0.1:161"} {
				if c, err := net.Dial("udp4", dst); err == nil {
					_, _ = c.Write(snmpGet)
					c.Close()
				}
			}
			if err := raw.send(tagged); err != nil {
				sendErr <- err
				return
			}
			d := net.Dialer{Timeout: time.Millisecond}
			if c, err := d.Dial("tcp4", "10.99.0.1:502"); err == nil {
				c.Close()
			}
			select {
			case <-seen:
				sendErr <- nil
				return
			case <-ctx.Done():
				sendErr <- ctx.Err()
				return
			case <-tick.C:
			}
		}
	}()
	if err := <-sendErr; err != nil {
		t.Fatalf("the capture never reported the peer's traffic: %v", err)
	}
	promiscDuring := linkPromiscuity(t, nsCap, vCap)
	cancel()
	out := <-done
	if out.err != nil {
		t.Fatalf("Live: %v", out.err)
	}
	if promiscDuring != 1 {
		t.Errorf("promiscuity of %s while capturing: %d, want 1", vCap, promiscDuring)
	}
	if after := linkPromiscuity(t, nsCap, vCap); after != 0 {
		t.Errorf("promiscuity of %s after the capture: %d, want 0", vCap, after)
	}

	txAfter := linkCounter(t, nsCap, vCap, "tx")
	rxPeerAfter := linkCounter(t, nsPeer, vPeer, "rx")
	if txAfter != txBefore {
		t.Errorf("the capturing interface transmitted %d frames during passive capture", txAfter-txBefore)
	}
	if rxPeerAfter != rxPeerBefore {
		t.Errorf("the peer received %d frames from the capturing side", rxPeerAfter-rxPeerBefore)
	}
	if out.stats.Packets == 0 || out.stats.Format != "live" {
		t.Errorf("stats %+v: want live packets", out.stats)
	}
	t.Logf("%s backend: captured %d frames in %d windows, kernel drops %d; capture side tx %d→%d, peer rx %d→%d",
		backend, out.stats.Packets, len(results), out.stats.Dropped, txBefore, txAfter, rxPeerBefore, rxPeerAfter)
}

// liveOut is what a Live run in a namespace returned.
type liveOut struct {
	stats Stats
	err   error
}

// liveInNetns runs Live on iface inside the namespace ns until ctx ends,
// and sends its outcome on the channel returned. The socket is opened
// inside the namespace; once open it works from any thread.
func liveInNetns(ctx context.Context, ns, iface string, opts LiveOptions, emit func(*Result) error) <-chan liveOut {
	done := make(chan liveOut, 1)
	go func() {
		runtime.LockOSThread() // the thread is discarded with its namespace
		if err := enterNetns(ns); err != nil {
			done <- liveOut{err: err}
			return
		}
		st, err := Live(ctx, iface, opts, emit)
		done <- liveOut{st, err}
	}()
	return done
}

// vethPair makes two network namespaces of the test's own joined by a veth
// pair, removed at the end of tb: the capturing end (vCap in nsCap) has no
// address, no IPv6 and no ARP, so the kernel has no reason to speak from
// it; the peer (vPeer in nsPeer) is 10.99.0.2/24 and believes 10.99.0.1 is
// at 02:00:00:00:99:01 (the silent end never answers ARP).
func vethPair(tb testing.TB, n int) (nsCap, nsPeer, vCap, vPeer string) {
	tb.Helper()
	id := fmt.Sprintf("%d%d", os.Getpid()%10000, n)
	nsCap, nsPeer = "otaudit-cap-"+id, "otaudit-peer-"+id
	vCap, vPeer = "otc"+id, "otp"+id
	run := func(args ...string) {
		tb.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tb.Cleanup(func() {
		_ = exec.Command("ip", "netns", "del", nsCap).Run()
		_ = exec.Command("ip", "netns", "del", nsPeer).Run()
	})
	run("netns", "add", nsCap)
	run("netns", "add", nsPeer)
	run("link", "add", vCap, "netns", nsCap, "type", "veth", "peer", "name", vPeer, "netns", nsPeer)
	run("netns", "exec", nsCap, "sysctl", "-q", "-w", "net.ipv6.conf."+vCap+".disable_ipv6=1")
	run("-n", nsCap, "link", "set", vCap, "arp", "off", "up")
	run("netns", "exec", nsPeer, "sysctl", "-q", "-w", "net.ipv6.conf."+vPeer+".disable_ipv6=1")
	run("-n", nsPeer, "addr", "add", "10.99.0.2/24", "dev", vPeer)
	run("-n", nsPeer, "link", "set", vPeer, "up")
	run("-n", nsPeer, "neigh", "add", "10.99.0.1", "lladdr", "02:00:00:00:99:01", "dev", vPeer)
	return nsCap, nsPeer, vCap, vPeer
}

// liveSawPeer: the SNMP community from 10.99.0.2, the tagged host on VLAN
// 7, and a Modbus/TCP flow towards 10.99.0.1.
func liveSawPeer(results []*Result) bool {
	peer, tagged := netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.98.0.2")
	var cred, vlan, modbus bool
	for _, r := range results {
		for _, o := range r.Observations {
			switch {
			case o.Kind == otaudit.KindCredential && o.Credential.Client == peer && o.Credential.Protocol == "snmp" && o.Credential.KnownDefault:
				cred = true
			case o.Kind == otaudit.KindHost && o.Host.IP == tagged && o.Host.VLAN == 7:
				vlan = true
			case o.Kind == otaudit.KindFlow && o.Flow.Client == peer && o.Flow.ServerPort == 502:
				modbus = true
			}
		}
	}
	return cred && vlan && modbus
}

func enterNetns(name string) error {
	f, err := os.Open("/var/run/netns/" + name)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("netns %s: setns: %w", name, err)
	}
	return nil
}

// linkCounter reads the kernel's packet counter of dev ("tx" or "rx").
func linkCounter(t *testing.T, ns, dev, which string) int64 {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("ip -n %s -s link show %s: %v", ns, dev, err)
	}
	var links []struct {
		Stats64 map[string]struct {
			Packets int64 `json:"packets"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		t.Fatalf("ip -j link show %s: %v: %s", dev, err, out)
	}
	s, ok := links[0].Stats64[which]
	if !ok {
		t.Fatalf("ip -j link show %s: no %s counter: %s", dev, which, out)
	}
	return s.Packets
}

// linkPromiscuity is how many holders keep dev promiscuous.
func linkPromiscuity(t *testing.T, ns, dev string) int {
	t.Helper()
	out, err := exec.Command("ip", "-n", ns, "-d", "-j", "link", "show", "dev", dev).Output()
	if err != nil {
		t.Fatalf("ip -n %s -d link show %s: %v", ns, dev, err)
	}
	var links []struct {
		Promiscuity *int `json:"promiscuity"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 || links[0].Promiscuity == nil {
		t.Fatalf("ip -d -j link show %s: %v: %s", dev, err, out)
	}
	return *links[0].Promiscuity
}

type rawPeer struct {
	fd int
	to unix.SockaddrLinklayer
}

func rawSender(dev string) (*rawPeer, error) {
	ifc, err := net.InterfaceByName(dev)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("peer raw socket: %w", err)
	}
	return &rawPeer{fd: fd, to: unix.SockaddrLinklayer{Ifindex: ifc.Index, Halen: 6}}, nil
}

func (r *rawPeer) send(frame []byte) error { return unix.Sendto(r.fd, frame, 0, &r.to) }
func (r *rawPeer) close()                  { unix.Close(r.fd) }

func taggedSNMPFrame(payload []byte) ([]byte, error) {
	ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IP{10, 98, 0, 2}, DstIP: net.IP{10, 98, 0, 1}}
	udp := &layers.UDP{SrcPort: 40161, DstPort: 161}
	_ = udp.SetNetworkLayerForChecksum(ip)
	buf := gopacket.NewSerializeBuffer()
	err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0x98, 2}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0x98, 1}, EthernetType: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(payload))
	return buf.Bytes(), err
}

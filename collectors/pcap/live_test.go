package pcap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"golang.org/x/net/bpf"

	"github.com/otaudit/otaudit"
)

func testFilterVM(t testing.TB) *bpf.VM {
	t.Helper()
	tcp, udp := decoderPorts()
	raw, err := kernelFilter(tcp, udp, HeaderSnap)
	if err != nil {
		t.Fatalf("kernelFilter: %v", err)
	}
	ins, allDecoded := bpf.Disassemble(raw)
	if !allDecoded {
		t.Fatal("kernel filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("kernel filter rejected by the BPF VM: %v", err)
	}
	return vm
}

// liveFrame builds an Ethernet frame from the given layers with a payload.
func liveFrame(t *testing.T, payload []byte, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	ls = append(ls, gopacket.Payload(payload))
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

func TestKernelFilterKeepsDecodedTraffic(t *testing.T) {
	vm := testFilterVM(t)
	mac1, mac2 := net.HardwareAddr{2, 0, 0, 0, 0, 1}, net.HardwareAddr{2, 0, 0, 0, 0, 2}
	eth := func(typ layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: typ}
	}
	ip4 := func(proto layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: proto, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	}
	ip4opt := ip4(layers.IPProtocolTCP)
	ip4opt.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}} // IHL 6
	ip6 := func(next layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: net.ParseIP("fd00::1"), DstIP: net.ParseIP("fd00::2")}
	}
	tcp := func(sport, dport layers.TCPPort) *layers.TCP {
		return &layers.TCP{SrcPort: sport, DstPort: dport, Seq: 1, ACK: true, PSH: true, Window: 1000}
	}
	udp := func(sport, dport layers.UDPPort) *layers.UDP { return &layers.UDP{SrcPort: sport, DstPort: dport} }
	big := bytes.Repeat([]byte{0x55}, 900)
	withTCP := func(l4 *layers.TCP, l3 gopacket.NetworkLayer) *layers.TCP {
		_ = l4.SetNetworkLayerForChecksum(l3)
		return l4
	}
	withUDP := func(l4 *layers.UDP, l3 gopacket.NetworkLayer) *layers.UDP {
		_ = l4.SetNetworkLayerForChecksum(l3)
		return l4
	}
	v4, v4o, v6 := ip4(layers.IPProtocolTCP), ip4opt, ip6(layers.IPProtocolTCP)
	u4, u6 := ip4(layers.IPProtocolUDP), ip6(layers.IPProtocolUDP)
	frag := ip4(layers.IPProtocolTCP)
	frag.FragOffset = 100
	cases := []struct {
		name  string
		frame []byte
		whole bool
	}{
		{"modbus request", liveFrame(t, big, eth(layers.EthernetTypeIPv4), v4, withTCP(tcp(40000, 502), v4)), true},
		{"modbus response", liveFrame(t, big, eth(layers.EthernetTypeIPv4), v4, withTCP(tcp(502, 40000), v4)), true},
		{"modbus behind IPv4 options", liveFrame(t, big, eth(layers.EthernetTypeIPv4), v4o, withTCP(tcp(40000, 502), v4o)), true},
		{"telnet over IPv6", liveFrame(t, big, eth(layers.EthernetTypeIPv6), v6, withTCP(tcp(23, 50000), v6)), true},
		{"snmp", liveFrame(t, big, eth(layers.EthernetTypeIPv4), u4, withUDP(udp(50000, 161), u4)), true},
		{"snmp over IPv6", liveFrame(t, big, eth(layers.EthernetTypeIPv6), u6, withUDP(udp(161, 50000), u6)), true},
		{"modbus in 802.1Q", liveFrame(t, big, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, withTCP(tcp(40000, 502), v4)), true},
		{"modbus in QinQ", liveFrame(t, big, eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeDot1Q}, &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, withTCP(tcp(40000, 502), v4)), true},
		{"arp", liveFrame(t, nil, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: mac1, SourceProtAddress: []byte{10, 0, 0, 1}, DstHwAddress: make([]byte, 6), DstProtAddress: []byte{10, 0, 0, 2}}), true},
		{"lldp-like non-IP", liveFrame(t, big, eth(layers.EthernetTypeLinkLayerDiscovery)), true},
		{"mysql", liveFrame(t, big, eth(layers.EthernetTypeIPv4), v4, withTCP(tcp(40000, 3306), v4)), false},
		{"https over IPv6 (TLS handshakes are read)", liveFrame(t, big, eth(layers.EthernetTypeIPv6), v6, withTCP(tcp(50000, 443), v6)), true},
		{"smb over IPv6", liveFrame(t, big, eth(layers.EthernetTypeIPv6), v6, withTCP(tcp(50000, 445), v6)), false},
		{"dns (remote tools' names are read)", liveFrame(t, big, eth(layers.EthernetTypeIPv4), u4, withUDP(udp(50000, 53), u4)), true},
		{"ntp", liveFrame(t, big, eth(layers.EthernetTypeIPv4), u4, withUDP(udp(50000, 123), u4)), false},
		{"mysql in 802.1Q", liveFrame(t, big, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeIPv4}, v4, withTCP(tcp(40000, 3306), v4)), false},
		{"non-first fragment", liveFrame(t, big, eth(layers.EthernetTypeIPv4), frag), false},
		{"icmp", liveFrame(t, big, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4)), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, err := vm.Run(c.frame)
			if err != nil {
				t.Fatalf("filter: %v", err)
			}
			n = min(n, len(c.frame)) // the kernel caps the return value at the frame length
			want := min(HeaderSnap, len(c.frame))
			if c.whole {
				want = len(c.frame)
			}
			if n != want {
				t.Errorf("filter keeps %d of %d bytes, want %d", n, len(c.frame), want)
			}
		})
	}
}

func TestKernelFilterPortsFollowDecoders(t *testing.T) {
	tcp, udp := decoderPorts()
	for _, p := range []uint16{502, 23, 21, 80, 4840, 22, 3389, 5900, 5938, 7070} {
		if !slices.Contains(tcp, p) {
			t.Errorf("TCP port %d (a decoder reads it) is not kept whole: %v", p, tcp)
		}
	}
	for _, p := range []uint16{161, 53} {
		if !slices.Contains(udp, p) {
			t.Errorf("UDP port %d (a decoder reads it) is not kept whole: %v", p, udp)
		}
	}
	if slices.Contains(tcp, 3306) || slices.Contains(udp, 123) {
		t.Errorf("ports no decoder reads are kept whole: tcp %v udp %v", tcp, udp)
	}
}

// TestKernelFilterPreservesDecoderResults runs every shared capture through
// the kernel filter (as the kernel would) and checks that what the decoders
// report — operations, identities, credentials, secure channels, hosts —
// is the same as without it.
func TestKernelFilterPreservesDecoderResults(t *testing.T) {
	dir := sharedPcaps(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap*"))
	if len(files) == 0 {
		t.Skip("no captures in " + dir)
	}
	vm := testFilterVM(t)
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			full, err := AnalyzeFile(context.Background(), file, Options{Judge: testJudge})
			if err != nil {
				t.Skipf("not analysable: %v", err)
			}
			if full.Stats.LinkType != "Ethernet" {
				t.Skipf("link type %s: live capture is Ethernet only", full.Stats.LinkType)
			}
			filtered := filterCapture(t, file, vm)
			got, err := Analyze(context.Background(), bytes.NewReader(filtered), filepath.Base(file), Options{Judge: testJudge})
			if err != nil {
				t.Fatalf("filtered analysis: %v", err)
			}
			for _, kind := range []otaudit.ObservationKind{otaudit.KindOperation, otaudit.KindIdentity, otaudit.KindCredential, otaudit.KindSecureChannel, otaudit.KindNameLookup} {
				w, g := observationsOf(full, kind), observationsOf(got, kind)
				if !slices.Equal(w, g) {
					t.Errorf("%s observations differ with the kernel filter:\nwithout: %v\nwith:    %v", kind, w, g)
				}
			}
			if w, g := hostIPs(full), hostIPs(got); !slices.Equal(w, g) {
				t.Errorf("hosts differ with the kernel filter:\nwithout: %v\nwith:    %v", w, g)
			}
		})
	}
}

func filterCapture(t *testing.T, file string, vm *bpf.VM) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := openCapture(f, filepath.Base(file))
	if err != nil {
		t.Skipf("not readable: %v", err)
	}
	var out bytes.Buffer
	w := pcapgo.NewWriterNanos(&out)
	if err := w.WriteFileHeader(maxSnaplen, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for {
		var rec record
		err := src.next(&rec)
		data, ci := rec.data, gopacket.CaptureInfo{Timestamp: rec.ts, CaptureLength: len(rec.data), Length: rec.length}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, errTruncated) {
				t.Fatal(err)
			}
			break
		}
		n, err := vm.Run(data)
		if err != nil || n == 0 {
			continue // the kernel drops what the filter cannot read
		}
		data = data[:min(n, len(data))]
		ci.CaptureLength = len(data)
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func observationsOf(r *Result, kind otaudit.ObservationKind) []string {
	var out []string
	for _, o := range r.Observations {
		if o.Kind != kind {
			continue
		}
		o.FirstFrame, o.Source = 0, ""
		switch {
		case o.Operation != nil:
			out = append(out, o.Operation.Protocol+" "+o.Operation.Client.String()+">"+o.Operation.Server.String()+" "+o.Operation.Name+" "+string(o.Operation.Class)+" "+itoa(o.Operation.Requests)+"/"+itoa(o.Operation.Responses))
		case o.Identity != nil:
			out = append(out, o.Identity.IP.String()+" "+o.Identity.Method+" "+o.Identity.Vendor+" "+o.Identity.Model+" "+o.Identity.Name+" "+o.Identity.Firmware)
		case o.Credential != nil:
			out = append(out, o.Credential.Protocol+" "+o.Credential.Client.String()+">"+o.Credential.Server.String()+" "+o.Credential.User+" "+o.Credential.Fingerprint+" "+o.Credential.Outcome)
		case o.SecureChannel != nil:
			c := o.SecureChannel
			out = append(out, c.Protocol+" "+c.Policy+" "+c.Endpoint+" "+certSum(c.ServerCertificate))
		case o.NameLookup != nil:
			out = append(out, fmt.Sprint(*o.NameLookup))
		}
	}
	return out
}

func certSum(c *otaudit.Certificate) string {
	if c == nil {
		return "-"
	}
	return c.SHA256
}

func itoa(n int64) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		return appendInt(append(b, '-'), -n)
	}
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func hostIPs(r *Result) []string {
	var out []string
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindHost && o.Host.Packets > 0 {
			out = append(out, o.Host.IP.String()+" "+o.Host.MAC)
		}
	}
	return out
}

// TestLivePermissionError: without CAP_NET_RAW the capture says what is
// missing. As root the test runs itself again as nobody.
func TestLivePermissionError(t *testing.T) {
	if os.Getenv("OTAUDIT_LIVE_UNPRIVILEGED") == "" && os.Geteuid() == 0 {
		exe, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		dir, err := os.MkdirTemp("", "otaudit-live-perm-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "pcap.test")
		data, err := os.ReadFile(exe)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-test.run=^TestLivePermissionError$", "-test.v")
		cmd.Env = append(os.Environ(), "OTAUDIT_LIVE_UNPRIVILEGED=1")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("unprivileged run failed: %v\n%s", err, out)
		}
		if !bytes.Contains(out, []byte("needs CAP_NET_RAW")) {
			t.Fatalf("unprivileged run did not check the error:\n%s", out)
		}
		return
	}
	for _, backend := range liveBackends(t) {
		_, err := Live(context.Background(), "lo", LiveOptions{Backend: backend}, nil)
		var pe *PermissionError
		if !errors.As(err, &pe) {
			t.Fatalf("Live (%s backend) without CAP_NET_RAW: %v, want a *PermissionError", backend, err)
		}
		const want = "live capture on lo needs CAP_NET_RAW (run as root or grant the capability): operation not permitted"
		if err.Error() != want {
			t.Fatalf("%s backend: error %q, want %q", backend, err, want)
		}
		t.Logf("%s backend: %s", backend, err)
	}
}

// liveBackends are the capture backends of this build; the test log says
// when afpacket is not among them.
func liveBackends(t testing.TB) []string {
	if !afpacketBuilt {
		t.Logf("the %s backend is not in this build (go test -tags afpacket; CI runs it): only %s tested", BackendAFPacket, BackendSocket)
		return []string{BackendSocket}
	}
	return []string{BackendSocket, BackendAFPacket}
}

// TestLiveBackendChoice: an unknown backend, and afpacket in a build
// without it, are refused before anything is opened, naming what to do.
func TestLiveBackendChoice(t *testing.T) {
	_, err := Live(context.Background(), "lo", LiveOptions{Backend: "pfring"}, nil)
	if err == nil || !strings.Contains(err.Error(), `unknown capture backend "pfring" (want socket or afpacket)`) {
		t.Fatalf("backend pfring: %v", err)
	}
	if afpacketBuilt {
		return
	}
	_, err = Live(context.Background(), "lo", LiveOptions{Backend: BackendAFPacket}, nil)
	if err == nil || !strings.Contains(err.Error(), "built without the afpacket backend: build it with `go build -tags afpacket`") {
		t.Fatalf("backend afpacket in a build without it: %v", err)
	}
}

package pcap

import (
	"fmt"
	"net"
	"slices"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/otaudit/otaudit"
)

// dnsMsg encodes a DNS message with gopacket's DNS layer (names in
// answers are compressed by hand below where a test needs it).
func dnsMsg(t testing.TB, id uint16, response bool, rcode layers.DNSResponseCode, name string, answers ...layers.DNSResourceRecord) []byte {
	t.Helper()
	m := &layers.DNS{ID: id, QR: response, OpCode: layers.DNSOpCodeQuery, RD: true, RA: response, ResponseCode: rcode,
		Questions: []layers.DNSQuestion{{Name: []byte(name), Type: layers.DNSTypeA, Class: layers.DNSClassIN}},
		Answers:   answers}
	buf := gopacket.NewSerializeBuffer()
	if err := m.SerializeTo(buf, gopacket.SerializeOptions{FixLengths: true}); err != nil {
		t.Fatalf("encode DNS message for %s: %v", name, err)
	}
	return slices.Clone(buf.Bytes())
}

func aRecord(name, ip string) layers.DNSResourceRecord {
	r := layers.DNSResourceRecord{Name: []byte(name), Class: layers.DNSClassIN, TTL: 60, IP: net.ParseIP(ip)}
	r.Type = layers.DNSTypeA
	if r.IP.To4() == nil {
		r.Type = layers.DNSTypeAAAA
	} else {
		r.IP = r.IP.To4()
	}
	return r
}

func TestDNSLookupsOfRemoteTools(t *testing.T) {
	// A CNAME in front of the addresses, its target compressed: the
	// answer's owner names are pointers to the question (0xc00c).
	cname := dnsMsg(t, 7, true, layers.DNSResponseCodeNoErr, "boot.net.anydesk.com",
		layers.DNSResourceRecord{Name: []byte("boot.net.anydesk.com"), Type: layers.DNSTypeCNAME, Class: layers.DNSClassIN, TTL: 60, CNAME: []byte("relay-1.net.anydesk.com")},
		aRecord("relay-1.net.anydesk.com", "37.61.223.15"), aRecord("relay-1.net.anydesk.com", "2001:db8::15"))
	many := []layers.DNSResourceRecord{}
	for i := range 10 {
		many = append(many, aRecord("router1.teamviewer.com", fmt.Sprintf("192.0.2.%d", i+1)))
	}
	cut := dnsMsg(t, 9, true, layers.DNSResponseCodeNoErr, "x.splashtop.com", aRecord("x.splashtop.com", "198.51.100.1"), aRecord("x.splashtop.com", "198.51.100.2"))
	cut = cut[:len(cut)-3] // the second record's address is cut short

	type msg struct {
		toServer bool
		b        []byte
	}
	tests := []struct {
		name string
		msgs []msg
		want []string // "name tool answers count"
		errs []string
	}{
		{"a query and its answer, mixed case", []msg{
			{true, dnsMsg(t, 1, false, 0, "Relay-3185A847.net.AnyDesk.com")},
			{false, dnsMsg(t, 1, true, 0, "Relay-3185A847.net.AnyDesk.com", aRecord("Relay-3185A847.net.AnyDesk.com", "37.61.223.15"))},
		}, []string{"relay-3185a847.net.anydesk.com anydesk [37.61.223.15] 2"}, nil},
		{"a CNAME chain with compressed names, IPv4 and IPv6", []msg{{false, cname}},
			[]string{"boot.net.anydesk.com anydesk [37.61.223.15 2001:db8::15] 1"}, nil},
		{"NXDOMAIN: the question counts, no answer", []msg{{false, dnsMsg(t, 3, true, layers.DNSResponseCodeNXDomain, "abc.ngrok-free.app")}},
			[]string{"abc.ngrok-free.app ngrok [] 1"}, nil},
		{"at most eight answers kept", []msg{{false, dnsMsg(t, 4, true, 0, "router1.teamviewer.com", many...)}},
			[]string{"router1.teamviewer.com teamviewer [192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 192.0.2.6 192.0.2.7 192.0.2.8] 1"}, nil},
		{"an answer cut short keeps what came before", []msg{{false, cut}},
			[]string{"x.splashtop.com splashtop [198.51.100.1] 1"}, nil},
		{"names of no tool are not kept", []msg{
			{true, dnsMsg(t, 5, false, 0, "historian.plant.local")},
			{true, dnsMsg(t, 6, false, 0, "notanydesk.com")},
		}, nil, nil},
		{"a response sent to the server port is not believed", []msg{{true, dnsMsg(t, 8, true, 0, "anydesk.com", aRecord("anydesk.com", "192.0.2.9"))}},
			nil, nil},
		{"a question whose label runs past the message", []msg{{true, []byte("\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3fshort")}},
			nil, []string{"dns: malformed question"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var frames [][]byte
			for _, m := range tc.msgs {
				s := segment{src: "10.0.0.20", dst: "10.0.0.53", sport: 50123, dport: 53, udp: true, payload: m.b}
				if !m.toServer {
					s = segment{src: "10.0.0.53", dst: "10.0.0.20", sport: 53, dport: 50123, udp: true, payload: m.b}
				}
				frames = append(frames, frame(t, s))
			}
			r, err := analyzeBytes(t, "dns.pcap", capture(t, frames...))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, o := range observations(r, otaudit.KindNameLookup) {
				l := o.NameLookup
				if l.Client.String() != "10.0.0.20" || l.Server.String() != "10.0.0.53" || !otaudit.IsRemoteTool(l.Tool) {
					t.Errorf("lookup %+v: wrong ends or tool", l)
				}
				got = append(got, fmt.Sprintf("%s %s %v %d", l.Name, l.Tool, l.Answers, o.Count))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("lookups %q, want %q", got, tc.want)
			}
			wantDecodeErrors(t, r, tc.errs)
			if flows := observations(r, otaudit.KindFlow); len(tc.msgs) > 0 && (len(flows) != 1 || flows[0].Flow.Protocol != "dns") {
				t.Errorf("flows %+v, want the one DNS flow", flows)
			}
		})
	}
}

// TestDNSLookupsInSharedCapture: the AnyDesk capture's two relay lookups
// (nDPI's reference lists the flows as DNS.AnyDesk), with the addresses
// tshark reads from the answers (dns.a, frames 63 and 65).
func TestDNSLookupsInSharedCapture(t *testing.T) {
	r := analyzeShared(t, sharedPcaps(t), "anydesk_sessions.pcapng")
	var got []string
	for _, o := range observations(r, otaudit.KindNameLookup) {
		l := o.NameLookup
		got = append(got, fmt.Sprintf("%s %s %s %s %v", l.Client, l.Server, l.Name, l.Tool, l.Answers))
	}
	want := []string{
		"192.168.1.187 192.168.1.1 relay-3185a847.net.anydesk.com anydesk [37.61.223.15]",
		"192.168.1.187 192.168.1.1 relay-9b6827f2.net.anydesk.com anydesk [138.199.36.115]",
	}
	if !slices.Equal(got, want) {
		t.Errorf("lookups %q, want %q", got, want)
	}
}

// FuzzDNSMessage: any payload to or from port 53 never panics, and a
// lookup is only ever kept for a remote tool's name, with at most
// dnsMaxAnswers addresses.
func FuzzDNSMessage(f *testing.F) {
	f.Add(dnsMsg(f, 1, false, 0, "relay-1.net.anydesk.com"), true)
	f.Add(dnsMsg(f, 1, true, 0, "relay-1.net.anydesk.com", aRecord("relay-1.net.anydesk.com", "192.0.2.1")), false)
	f.Add([]byte("\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x07anydesk\x03com\x00\x00\x01\x00\x01\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc0\x00\x02\x01"), false)
	f.Fuzz(func(t *testing.T, payload []byte, toServer bool) {
		s := segment{src: "10.0.0.20", dst: "10.0.0.53", sport: 50123, dport: 53, udp: true, payload: payload}
		if !toServer {
			s = segment{src: "10.0.0.53", dst: "10.0.0.20", sport: 53, dport: 50123, udp: true, payload: payload}
		}
		r, err := analyzeBytes(t, "dns.pcap", capture(t, frame(t, s)))
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range observations(r, otaudit.KindNameLookup) {
			if l := o.NameLookup; remoteToolByServerName(l.Name) != l.Tool || l.Tool == "" || len(l.Answers) > dnsMaxAnswers {
				t.Fatalf("lookup %+v", l)
			}
		}
	})
}

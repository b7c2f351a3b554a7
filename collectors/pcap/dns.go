package pcap

import (
	"encoding/binary"
	"net/netip"
	"slices"

	"github.com/otaudit/otaudit"
)

// DNS (RFC 1035) on udp/53, read on the flow fast path without a
// conversation: only the question's name is looked at, and a message is
// kept only when the name is in the domain of a remote-control tool or
// tunnelling service (remoteToolDomains; reference check #27: "DNS/SNI"),
// with the addresses a response gives for it. A host resolving its tool's
// rendezvous server shows the tool installed even where the firewall stops
// the connection that would follow. The addresses are not used to name
// later connections: several such names resolve to shared front ends
// (Google's APIs, CDNs), whose other traffic would be misnamed.

const (
	dnsHeaderLen  = 12
	dnsMaxName    = 255
	dnsMaxAnswers = 8 // addresses kept per lookup
	dnsTypeA      = 1
	dnsTypeAAAA   = 28
)

type lookupKey struct {
	cli, srv netip.Addr
	name     string
}

type lookupAgg struct {
	l otaudit.NameLookup
	span
}

// dnsMessage reads one DNS message of a flow; cli is the host that asks.
func (a *analysis) dnsMessage(cli, srv netip.Addr, d dir, b []byte, f *frameInfo) {
	if len(b) < dnsHeaderLen {
		return
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	response, opcode := flags&0x8000 != 0, (flags>>11)&0xf
	if opcode != 0 || binary.BigEndian.Uint16(b[4:6]) != 1 || response != (d == toClient) {
		return // not a standard query with one question, or against its flow's direction
	}
	var buf [dnsMaxName]byte
	name, off, ok := dnsQuestionName(b, &buf)
	if !ok {
		a.decodeError(f.index, "dns: malformed question")
		return
	}
	tool := remoteToolOf(name)
	if tool == "" {
		return
	}
	var answers []netip.Addr
	if response && flags&0xf == 0 && off+4 <= len(b) {
		answers = dnsAddresses(b, off+4, int(binary.BigEndian.Uint16(b[6:8])))
	}
	a.nameLookup(cli, srv, string(name), tool, answers, f)
}

// dnsQuestionName reads the first question's name, lower-cased, into buf;
// off is where its type and class start. A compression pointer in a
// question (which a single question never needs) is not followed.
func dnsQuestionName(b []byte, buf *[dnsMaxName]byte) (name []byte, off int, ok bool) {
	off, n := dnsHeaderLen, 0
	for {
		if off >= len(b) {
			return nil, 0, false
		}
		l := int(b[off])
		off++
		if l == 0 {
			return buf[:n], off, true
		}
		if l > 63 || off+l > len(b) || n+l+1 > dnsMaxName {
			return nil, 0, false
		}
		if n > 0 {
			buf[n] = '.'
			n++
		}
		for _, c := range b[off : off+l] {
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
		}
		off += l
	}
}

// dnsAddresses reads the A and AAAA records of the answer section that
// starts at off (the first n records); it stops at the first record it
// cannot read.
func dnsAddresses(b []byte, off, n int) []netip.Addr {
	var out []netip.Addr
	for range n {
		off = dnsSkipName(b, off)
		if off < 0 || off+10 > len(b) {
			break
		}
		typ, rdlen := binary.BigEndian.Uint16(b[off:]), int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			break
		}
		if ip, ok := netip.AddrFromSlice(b[off : off+rdlen]); ok && (typ == dnsTypeA && rdlen == 4 || typ == dnsTypeAAAA && rdlen == 16) {
			out = append(out, ip)
			if len(out) == dnsMaxAnswers {
				break
			}
		}
		off += rdlen
	}
	return out
}

// dnsSkipName returns the offset after the (possibly compressed) name at
// off, or -1.
func dnsSkipName(b []byte, off int) int {
	for off < len(b) {
		l := int(b[off])
		switch {
		case l == 0:
			return off + 1
		case l&0xc0 == 0xc0: // a pointer ends the name
			if off+2 > len(b) {
				return -1
			}
			return off + 2
		case l > 63:
			return -1
		}
		off += 1 + l
	}
	return -1
}

// nameLookup aggregates a lookup by host, server and name.
func (a *analysis) nameLookup(cli, srv netip.Addr, name, tool string, answers []netip.Addr, f *frameInfo) {
	k := lookupKey{cli: cli, srv: srv, name: name}
	g := a.lookups[k]
	if g == nil {
		if len(a.lookups) >= a.maxFlows {
			a.stats.Evictions++
			return
		}
		g = &lookupAgg{l: otaudit.NameLookup{Client: cli, Server: srv, Name: name, Tool: tool}}
		a.lookups[k] = g
	}
	for _, ip := range answers {
		if len(g.l.Answers) < dnsMaxAnswers && !slices.Contains(g.l.Answers, ip) {
			g.l.Answers = append(g.l.Answers, ip)
		}
	}
	g.add(f)
}

package pcap

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/gosnmp/gosnmp"
)

// gosnmpSystem is snmpIdentity's reading of a gosnmp packet.
func gosnmpSystem(pkt *gosnmp.SnmpPacket) (model, product, name string) {
	for _, v := range pkt.Variables {
		switch v.Name {
		case oidSysDescr:
			if b, ok := v.Value.([]byte); ok {
				model = printable(b, 255)
			}
		case oidSysObjectID:
			if s, ok := v.Value.(string); ok {
				product = printable([]byte(s), 128)
			}
		case oidSysName:
			if b, ok := v.Value.([]byte); ok {
				name = printable(b, 255)
			}
		}
	}
	return model, product, name
}

// checkSNMPFast fails when parseSNMPFast accepts b but reads it otherwise
// than gosnmp; it reports whether the fast reader accepted b.
func checkSNMPFast(t testing.TB, b []byte) bool {
	t.Helper()
	m, ok := parseSNMPFast(b)
	if !ok {
		return false
	}
	pkt, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(b)
	if err != nil || pkt == nil {
		t.Fatalf("fast reader accepted % x, gosnmp: %v", b, err)
	}
	if string(m.community) != pkt.Community || m.tag != byte(pkt.PDUType) || m.requestID != pkt.RequestID ||
		(m.errStatus == 0) != (pkt.Error == gosnmp.NoError) {
		t.Fatalf("% x: fast community %q tag %#x id %d status %d; gosnmp %q %#x %d %d",
			b, m.community, m.tag, m.requestID, m.errStatus, pkt.Community, byte(pkt.PDUType), pkt.RequestID, pkt.Error)
	}
	fm, fp, fn := snmpFastSystem(&m)
	gm, gp, gn := gosnmpSystem(pkt)
	if fm != gm || fp != gp || fn != gn {
		t.Fatalf("% x: fast system (%q %q %q), gosnmp (%q %q %q)", b, fm, fp, fn, gm, gp, gn)
	}
	// With every value already known, only emptiness is computed: it
	// must be the same.
	km, kp, kn := snmpFastSystemFor(&m, true, true, true)
	if (km == "") != (fm == "") || (kp == "") != (fp == "") || (kn == "") != (fn == "") {
		t.Fatalf("% x: known-value system (%q %q %q), full (%q %q %q)", b, km, kp, kn, fm, fp, fn)
	}
	return true
}

// snmpSeeds are messages of the kinds the fast reader takes, and some it
// leaves to gosnmp.
func snmpSeeds() [][]byte {
	vb := func(oid []byte, val []byte) []byte { return tlv(0x30, append(tlv(0x06, oid), val...)) }
	msg := func(version byte, community string, tag byte, id []byte, status byte, vbs ...[]byte) []byte {
		body := append(tlv(0x02, id), 0x02, 0x01, status, 0x02, 0x01, 0x00)
		body = append(body, tlv(0x30, bytes.Join(vbs, nil))...)
		m := append([]byte{0x02, 0x01, version}, tlv(0x04, []byte(community))...)
		return tlv(0x30, append(m, tlv(tag, body)...))
	}
	null := []byte{0x05, 0x00}
	return [][]byte{
		msg(1, "public", 0xa0, []byte{0x01}, 0, vb(berSysDescr, null)),
		msg(1, "public", 0xa2, []byte{0x01}, 0, vb(berSysDescr, tlv(0x04, []byte("PLC firmware 1.0\x01")))),
		msg(0, "private", 0xa2, []byte{0xff, 0xff, 0xff, 0xfe}, 0,
			vb(berSysObjectID, tlv(0x06, []byte{0x2b, 6, 1, 4, 1, 0x82, 0x37, 1})), vb(berSysName, tlv(0x04, []byte("plc-7")))),
		msg(1, "s3cr3t", 0xa2, []byte{0x12, 0x34}, 2, vb(berSysName, tlv(0x04, []byte("x")))),
		msg(1, "rw", 0xa3, []byte{0x00, 0x80}, 0, vb(berSysName, tlv(0x04, []byte("renamed")))),
		msg(1, "public", 0xa5, []byte{0x07}, 0, vb(berSysDescr, null)),            // GetBulk: gosnmp's
		msg(1, "public", 0xa2, []byte{0x07}, 0, vb(berSysDescr, []byte{2, 1, 5})), // INTEGER value: gosnmp's
	}
}

func tlv(tag byte, v []byte) []byte {
	if len(v) > 0x7f {
		return append([]byte{tag, 0x81, byte(len(v))}, v...)
	}
	return append([]byte{tag, byte(len(v))}, v...)
}

// sharedSNMPPayloads returns the UDP payloads on ports 161/162 of the
// shared captures (none when they are absent).
func sharedSNMPPayloads(t *testing.T) [][]byte {
	dir := os.Getenv("OTAUDIT_SHARED_PCAPS")
	if dir == "" {
		root, err := filepath.Abs("../..")
		if err != nil {
			return nil
		}
		dir = filepath.Join(root, "..", "shared", "pcaps")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pcap"))
	var out [][]byte
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			continue
		}
		r, err := pcapgo.NewReader(f)
		if err != nil || r.LinkType() != layers.LinkTypeEthernet {
			f.Close()
			continue
		}
		for {
			data, _, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.NoCopy)
			if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && (u.SrcPort == 161 || u.DstPort == 161 || u.SrcPort == 162 || u.DstPort == 162) {
				out = append(out, bytes.Clone(u.Payload))
			}
		}
		f.Close()
	}
	return out
}

// TestSNMPFastAgreesWithGosnmp: on every message the fast reader accepts
// (seeds, the shared captures' SNMP, and every truncation and one-byte
// change of them) it reads what gosnmp reads.
func TestSNMPFastAgreesWithGosnmp(t *testing.T) {
	shared := sharedSNMPPayloads(t)
	if len(shared) == 0 {
		t.Log("../shared/pcaps not present (or no SNMP in it): checking the built-in messages only")
	}
	msgs := append(snmpSeeds(), shared...)
	accepted := 0
	for _, b := range msgs {
		if checkSNMPFast(t, b) {
			accepted++
		}
		for i := range b {
			checkSNMPFast(t, b[:i])
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff, b[i] ^ 0x01} {
				c := bytes.Clone(b)
				c[i] = x
				checkSNMPFast(t, c)
			}
		}
	}
	if accepted < 5 {
		t.Fatalf("the fast reader accepted only %d of %d messages", accepted, len(msgs))
	}
	for _, b := range snmpSeeds()[5:] {
		if _, ok := parseSNMPFast(b); ok {
			t.Errorf("fast reader accepted % x, which it should leave to gosnmp", b)
		}
	}
	t.Logf("%d messages, %d read by the fast reader", len(msgs), accepted)
}

func FuzzSNMPFastAgreesWithGosnmp(f *testing.F) {
	for _, b := range snmpSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkSNMPFast(t, b)
	})
}

package pcap

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
	"github.com/otaudit/otaudit"
)

func modbusReq(tid uint16, unit, fc byte, data ...byte) []byte {
	b := make([]byte, 7, 7+1+len(data))
	binary.BigEndian.PutUint16(b[0:2], tid)
	binary.BigEndian.PutUint16(b[4:6], uint16(2+len(data)))
	b[6] = unit
	return append(append(b, fc), data...)
}

func smallModbusCapture(t testing.TB) []byte {
	s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.2", 502)
	s.client(modbusReq(1, 1, 3, 0, 0, 0, 2)).server(modbusReq(1, 1, 3, 4, 0, 1, 0, 2))
	s.client(modbusReq(2, 1, 6, 0, 1, 0, 5)).server(modbusReq(2, 1, 0x86, 2))
	s.fin()
	return capture(t, s.frames...)
}

func TestEmptyAndWrongMagic(t *testing.T) {
	_, err := analyzeBytes(t, "x.pcap", nil)
	if err == nil || err.Error() != "pcap x.pcap: empty file" || !IsFormatError(err) {
		t.Errorf("empty: %v", err)
	}
	_, err = analyzeBytes(t, "x.pcap", []byte("<!DOCTYPE html><html>"))
	if err == nil || err.Error() != "pcap x.pcap: not a pcap or pcapng capture (starts with 3c 21 44 4f)" || !IsFormatError(err) {
		t.Errorf("html: %v", err)
	}
	_, err = AnalyzeFile(context.Background(), filepath.Join(t.TempDir(), "missing.pcap"), Options{})
	if err == nil || !strings.HasPrefix(err.Error(), "pcap missing.pcap: open: ") || IsFormatError(err) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestUnsupportedLinkType(t *testing.T) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeIEEE802_11); err != nil {
		t.Fatal(err)
	}
	_, err := analyzeBytes(t, "wifi.pcap", b.Bytes())
	if err == nil || !IsFormatError(err) || !strings.Contains(err.Error(), "unsupported link type 105") {
		t.Errorf("got %v", err)
	}
}

func TestTruncatedAtEveryOffset(t *testing.T) {
	full := smallModbusCapture(t)
	whole, err := analyzeBytes(t, "m.pcap", full)
	if err != nil || whole.Stats.Truncated {
		t.Fatalf("whole capture: %v %+v", err, whole.Stats)
	}
	firstRecordEnd := 24 + 16 + int(binary.LittleEndian.Uint32(full[24+8:]))
	for cut := 1; cut < len(full); cut++ {
		r, err := analyzeBytes(t, "m.pcap", full[:cut])
		switch {
		case cut == 24: // just the file header: a valid, empty capture
			if err != nil || r.Stats.Packets != 0 || r.Stats.Truncated {
				t.Fatalf("header only: %v %+v", err, r)
			}
		case cut < firstRecordEnd:
			if err == nil || !IsFormatError(err) || r != nil {
				t.Fatalf("cut at %d (before the first packet): want a format error, got %v", cut, err)
			}
			var fe *FormatError
			errors.As(err, &fe)
			if cut >= 24 && fe.Offset != 24 {
				t.Errorf("cut at %d: offset %d, want 24", cut, fe.Offset)
			}
		default:
			if err != nil {
				t.Fatalf("cut at %d: %v", cut, err)
			}
			if r.Stats.Packets == 0 {
				t.Fatalf("cut at %d: no packets", cut)
			}
			if r.Stats.Truncated {
				want := fmt.Sprintf("pcap m.pcap: capture truncated at byte %d after %d packets; analysed what was read", r.Stats.TruncatedAt, r.Stats.Packets)
				if !strings.Contains(strings.Join(r.Stats.Warnings, "\n"), want) {
					t.Errorf("cut at %d: warnings %q lack %q", cut, r.Stats.Warnings, want)
				}
				if r.Stats.TruncatedAt >= int64(cut) || r.Stats.TruncatedAt < 24 {
					t.Errorf("cut at %d: truncated at %d", cut, r.Stats.TruncatedAt)
				}
			}
		}
	}
}

func TestPcapngBadBlockLength(t *testing.T) {
	var b bytes.Buffer
	w, err := pcapgo.NewNgWriter(&b, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.2", 502).client(modbusReq(1, 1, 3, 0, 0, 0, 1))
	var offsets []int
	for _, f := range s.frames {
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		offsets = append(offsets, b.Len())
		if err := w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(f), Length: len(f)}, f); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	data := bytes.Clone(b.Bytes())
	// Corrupt the leading length of the third packet block.
	binary.LittleEndian.PutUint32(data[offsets[2]+4:], 0xfff1)
	r, err := analyzeBytes(t, "bad.pcapng", data)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stats.Truncated || r.Stats.TruncatedAt != int64(offsets[2]) || r.Stats.Packets != 2 || r.Stats.Format != "pcapng" {
		t.Errorf("stats = %+v, want truncated at %d after 2 packets", r.Stats, offsets[2])
	}
	// The same corruption in the first block leaves nothing: an error.
	data = bytes.Clone(b.Bytes())
	binary.LittleEndian.PutUint32(data[offsets[0]+4:], 7)
	if _, err := analyzeBytes(t, "bad.pcapng", data); err == nil || !IsFormatError(err) || !strings.Contains(err.Error(), fmt.Sprintf("truncated at byte %d", offsets[0])) {
		t.Errorf("corrupt first block: %v", err)
	}
}

func TestSnaplenCutPacketAndZeroLengthSegments(t *testing.T) {
	f := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 1, ack: true, payload: modbusReq(1, 1, 3, 0, 0, 0, 1)})
	cut := f[:14+20+10] // TCP header cut in half
	empty := frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: 40000, dport: 502, seq: 13, ack: true})
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	_ = w.WriteFileHeader(44, layers.LinkTypeEthernet)
	_ = w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(cut), Length: len(f)}, cut)
	_ = w.WritePacket(gopacket.CaptureInfo{CaptureLength: len(empty), Length: len(empty)}, empty)
	r, err := analyzeBytes(t, "cut.pcap", b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.DecodeErrors != 1 || !strings.Contains(strings.Join(r.Stats.Warnings, "\n"), "pcap cut.pcap: packet 1: malformed frame") {
		t.Errorf("stats %+v", r.Stats)
	}
	// Addresses of the cut frame still count, like tshark's endpoints.
	if got := hostSet(r); len(got) != 2 {
		t.Errorf("hosts %v", got)
	}
}

func TestModbusLyingLength(t *testing.T) {
	lie := modbusReq(1, 1, 3, 0, 0, 0, 1)
	binary.BigEndian.PutUint16(lie[4:6], 600) // beyond the 254 a PDU may have
	s := newTCPSession(t, "10.0.0.1", 40000, "10.0.0.2", 502).client(lie).client(modbusReq(2, 1, 4, 0, 0, 0, 1))
	r, err := analyzeBytes(t, "lie.pcap", capture(t, s.frames...))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.DecodeErrors != 1 {
		t.Errorf("decode errors = %d, want 1", r.Stats.DecodeErrors)
	}
	req := modbusRequests(r)
	if req["1/4"] != 1 || len(req) != 1 {
		t.Errorf("requests %v: want only the valid FC4 after resync", req)
	}
}

// Garbage on every OT port must neither panic nor invent operations.
func TestGarbageOnOTPorts(t *testing.T) {
	garbage := [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{0x03, 0x00, 0x00, 0x03, 0xe0},
		bytes.Repeat([]byte{0}, 300),
		[]byte("HEL\x46\x05\x00\x00\x00"),
		[]byte("OPNF\xff\xff\xff\x7f\x00\x00\x00\x00\xff\xff\xff\xff"),
		{0x30, 0x84, 0xff, 0xff, 0xff, 0xff},
		[]byte("RFB 003.003\n\x00\x00\x00"),
		[]byte("USER\r\nPASS\r\n"),
		[]byte("GET / HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n"),
	}
	var frames [][]byte
	port := uint16(30000)
	for p := range tcpPorts {
		for _, g := range garbage {
			port++
			s := newTCPSession(t, "10.0.0.1", port, "10.0.0.2", p).client(g).server(g)
			frames = append(frames, s.frames...)
		}
	}
	for p := range udpPorts {
		for _, g := range garbage {
			port++
			frames = append(frames, frame(t, segment{udp: true, src: "10.0.0.1", dst: "10.0.0.2", sport: port, dport: p, payload: g}))
		}
	}
	r, err := analyzeBytes(t, "garbage.pcap", capture(t, frames...))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindOperation && o.Operation.Function != 0 && o.Operation.Unit != 0 {
			t.Errorf("garbage produced operation %+v", o.Operation)
		}
		if o.Kind == otaudit.KindIdentity {
			t.Errorf("garbage produced identity %+v", o.Identity)
		}
	}
	if r.Stats.DecodeErrors == 0 {
		t.Error("garbage counted no decode errors")
	}
}

func TestCancelledContextReturnsPartialResult(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, err := Analyze(ctx, bytes.NewReader(smallModbusCapture(t)), "c.pcap", Options{})
	if !errors.Is(err, context.Canceled) || r == nil {
		t.Fatalf("got %v, %v", r, err)
	}
}

func TestDeterministicOutput(t *testing.T) {
	data := smallModbusCapture(t)
	a, _ := analyzeBytes(t, "d.pcap", data)
	for i := 0; i < 5; i++ {
		b, _ := analyzeBytes(t, "d.pcap", data)
		ja, _ := json.Marshal(a.Observations)
		jb, _ := json.Marshal(b.Observations)
		if !bytes.Equal(ja, jb) {
			t.Fatal("two runs gave different observations")
		}
	}
	// Exceptions and write classification on the synthetic session.
	var wr *otaudit.Operation
	for _, o := range a.Observations {
		if o.Kind == otaudit.KindOperation && o.Operation.Function == 6 {
			wr = o.Operation
		}
	}
	if wr == nil || wr.Class != otaudit.OpWrite || wr.Requests != 1 || wr.Responses != 1 || wr.Exceptions != 1 || wr.Name != "Write Single Register" {
		t.Errorf("FC6 operation = %+v", wr)
	}
}

func TestEvictionsBoundTheFlowTable(t *testing.T) {
	var frames [][]byte
	for i := 0; i < 40; i++ {
		frames = append(frames, frame(t, segment{src: "10.0.0.1", dst: "10.0.0.2", sport: uint16(40000 + i), dport: 502, seq: 1, syn: true}))
	}
	r, err := Analyze(context.Background(), bytes.NewReader(capture(t, frames...)), "e.pcap", Options{MaxFlows: 8})
	if err != nil {
		t.Fatal(err)
	}
	if r.Stats.Evictions == 0 {
		t.Error("no evictions counted with MaxFlows=8 and 40 connections")
	}
}

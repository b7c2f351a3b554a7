package pcap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// rawPcap writes a classic pcap file in the given byte order and time
// resolution, with snaplen 0 (unknown) so records of any size fit.
func rawPcap(order binary.AppendByteOrder, nano bool, ts []time.Time, frames ...[]byte) []byte {
	magic := uint32(magicPcapUs)
	if nano {
		magic = magicPcapNs
	}
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 1)
	for i, f := range frames {
		frac := ts[i].Nanosecond() / 1000
		if nano {
			frac = ts[i].Nanosecond()
		}
		b = order.AppendUint32(b, uint32(ts[i].Unix()))
		b = order.AppendUint32(b, uint32(frac))
		b = order.AppendUint32(b, uint32(len(f)))
		b = order.AppendUint32(b, uint32(len(f)+4))
		b = append(b, f...)
	}
	return b
}

// sameRecordsAsPcapgo reads file through in with this package's reader
// and the whole file with pcapgo's, wants the same records and the same
// clean end, and returns how many there were.
func sameRecordsAsPcapgo(t *testing.T, label string, file []byte, in io.Reader) int {
	t.Helper()
	want, err := pcapgo.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	want.SetSnaplen(maxSnaplen) // as this package treats snaplen 0
	src, err := openCapture(in, "x.pcap")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		wd, wci, werr := want.ReadPacketData()
		var got record
		gerr := src.next(&got)
		if werr != nil || gerr != nil {
			if !errors.Is(werr, io.EOF) || !errors.Is(gerr, io.EOF) {
				t.Fatalf("%s record %d: errors %v (pcapgo) and %v", label, i, werr, gerr)
			}
			return i
		}
		if !bytes.Equal(wd, got.data) || !wci.Timestamp.Equal(got.ts) || wci.CaptureLength != len(got.data) || wci.Length != got.length {
			t.Fatalf("%s record %d: got %d bytes at %v (%d on the wire), pcapgo %d bytes %+v", label, i, len(got.data), got.ts, got.length, len(wd), wci)
		}
	}
}

// TestPcapRecordsMatchPcapgo reads the same records in both byte orders
// and both resolutions, a jumbo and an empty one among them, with this
// package's reader and with pcapgo's, and wants the same packets.
func TestPcapRecordsMatchPcapgo(t *testing.T) {
	jumbo := bytes.Repeat([]byte{0xab}, 100_000)
	frames := [][]byte{arpFrame(macA, "10.0.0.1"), jumbo, {}, arpFrame(macB, "10.0.0.2")}
	ts := []time.Time{t0, t0.Add(1500 * time.Microsecond), t0.Add(time.Second + 7*time.Nanosecond), t0.Add(time.Hour)}
	for _, order := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, nano := range []bool{false, true} {
			file := rawPcap(order, nano, ts, frames...)
			label := fmt.Sprintf("%v nano=%v", order, nano)
			if n := sameRecordsAsPcapgo(t, label, file, bytes.NewReader(file)); n != len(frames) {
				t.Fatalf("%s: %d records, want %d", label, n, len(frames))
			}
		}
	}
}

// TestPcapRecordCutInsideBufferIsTruncation: a record whose data stops
// short at the end of the file is reported as a truncation at its start.
func TestPcapRecordCutInsideBufferIsTruncation(t *testing.T) {
	file := rawPcap(binary.LittleEndian, false, []time.Time{t0, t0}, arpFrame(macA, "10.0.0.1"), arpFrame(macB, "10.0.0.2"))
	cut := file[:len(file)-5]
	src, err := openPcap(bufio.NewReader(bytes.NewReader(cut)), "cut.pcap")
	if err != nil {
		t.Fatal(err)
	}
	var r record
	if err := src.next(&r); err != nil {
		t.Fatal(err)
	}
	if err := src.next(&r); !errors.Is(err, errTruncated) {
		t.Fatalf("second record: err %v, want errTruncated", err)
	}
	if want := int64(24 + 16 + len(arpFrame(macA, "10.0.0.1"))); src.offset() != want {
		t.Fatalf("truncated at %d, want %d", src.offset(), want)
	}
}

// FuzzAnalyzeCapture feeds arbitrary bytes to the whole analysis as a
// capture file: it must return a result or an error, never panic, and
// count no more packets than the file could hold.
func FuzzAnalyzeCapture(f *testing.F) {
	f.Add(smallModbusCapture(f))
	f.Add(rawPcap(binary.BigEndian, true, []time.Time{t0, t0}, arpFrame(macA, "10.0.0.1"), fastPathSeeds(f)[0]))
	f.Add(capture(f, closedSSH(f).frames...))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := analyzeBytes(t, "fuzz.pcap", b)
		if err != nil {
			return
		}
		if max := int64(len(b)-24) / 16; r.Stats.Packets > max {
			t.Fatalf("%d packets from %d bytes", r.Stats.Packets, len(b))
		}
	})
}

// TestPcapRecordsAcrossRefills reads records of every size up to the
// largest allowed, many times the reader's buffer in all, through an input
// that returns short reads, and wants pcapgo's packets.
func TestPcapRecordsAcrossRefills(t *testing.T) {
	var frames [][]byte
	var ts []time.Time
	for i := range 60 {
		size := []int{60, 1514, 9000, 65535, maxSnaplen, 0, 333}[i%7]
		frames = append(frames, bytes.Repeat([]byte{byte(i)}, size))
		ts = append(ts, t0.Add(time.Duration(i)*time.Millisecond))
	}
	file := rawPcap(binary.LittleEndian, false, ts, frames...)
	if len(file) < 4*pcapBufSize {
		t.Fatalf("test capture of %d bytes does not cross the buffer enough", len(file))
	}
	if n := sameRecordsAsPcapgo(t, "short reads", file, iotest.HalfReader(bytes.NewReader(file))); n != len(frames) {
		t.Fatalf("%d records, want %d", n, len(frames))
	}
}

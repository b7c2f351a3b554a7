package pcap

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// maxSnaplen bounds the per-packet buffer whatever the file header claims,
// so a corrupt header cannot make us allocate gigabytes.
const maxSnaplen = 256 << 10

// maxBlock bounds one pcapng block (a packet block with a jumbo frame and
// options stays far below it).
const maxBlock = 16 << 20

// packetSource yields packets of one capture file in file order.
type packetSource interface {
	// next reads the next packet into r; r.data is only valid until the
	// next call. It returns io.EOF at a clean end, errTruncated when the
	// file stops making sense (offset() then says where).
	next(r *record) error
	format() string
	// offset is the byte offset of the first record that could not be read.
	offset() int64
}

// record is one packet of a capture. It is filled in place: returned by
// value, with a gopacket.CaptureInfo (whose ancillary data slice only
// pcapng uses) through the interface, it was a visible share of the time
// per packet.
type record struct {
	data   []byte
	ts     time.Time
	length int // on the wire
	link   linkType
}

var errTruncated = errors.New("capture truncated")

const (
	magicPcapUs   = 0xa1b2c3d4
	magicPcapNs   = 0xa1b23c4d
	magicPcapngSH = 0x0a0d0d0a
	ngByteOrder   = 0x1a2b3c4d
)

// openCapture picks the reader by magic number. A gzip-compressed capture
// is decompressed as it is read (never whole); offsets in its errors and
// warnings are then offsets in the decompressed capture.
func openCapture(r io.Reader, name string) (packetSource, error) {
	return openCaptureLayer(r, name, false)
}

func openCaptureLayer(r io.Reader, name string, inGzip bool) (packetSource, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(4)
	if len(head) == 0 {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("pcap %s: read: %w", name, err)
		}
		return nil, &FormatError{File: name, Reason: "empty file", Offset: 0}
	}
	if len(head) >= 2 && head[0] == 0x1f && head[1] == 0x8b && !inGzip {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{File: name, Reason: "gzip header: " + err.Error(), Offset: 0}
		}
		src, err := openCaptureLayer(zr, name, true)
		if err != nil {
			return nil, err
		}
		return gzipSource{src}, nil
	}
	if len(head) < 4 {
		return nil, &FormatError{File: name, Reason: fmt.Sprintf("not a pcap or pcapng capture (only %d bytes: % x)", len(head), head), Offset: 0}
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapngSH:
		return openPcapng(br, name)
	case le == magicPcapUs || le == magicPcapNs || be == magicPcapUs || be == magicPcapNs:
		return openPcap(br, name)
	}
	return nil, &FormatError{File: name, Reason: fmt.Sprintf("not a pcap or pcapng capture (starts with % x)", head), Offset: 0}
}

// gzipSource is a capture read through compress/gzip.
type gzipSource struct{ packetSource }

func (s gzipSource) format() string { return s.packetSource.format() + "+gzip" }

// pcapSource reads classic libpcap files. The file header is checked by
// pcapgo; the records are parsed here, in place in a buffer of our own
// that always holds a whole record: pcapgo's Reader copied every record
// out of a second buffer (a fifth of the cost of the read), and bufio's
// Peek and Discard per record were a visible share too.
type pcapSource struct {
	in        io.Reader
	buf       []byte // buf[r:w] is read but not yet taken
	r, w      int
	inErr     error // the error that ended the input (io.EOF at its end)
	bigEndian bool
	// nanoFactor converts the fraction of a second to nanoseconds (1000
	// for microsecond files, 1 for nanosecond files).
	nanoFactor uint32
	snaplen    int
	link       linkType
	// pos is where the next record starts: 24 + Σ(16 + caplen).
	pos int64
	bad int64
}

// pcapBufSize holds the largest record (maxSnaplen plus its header) with
// room to spare, so no record needs a copy of its own. A source starts
// with pcapFirstBufSize and grows to it at its first refill: ordering a
// directory of rotated files reads only the first record of each.
const (
	pcapBufSize      = 2 * maxSnaplen
	pcapFirstBufSize = 64 << 10
)

func openPcap(br *bufio.Reader, name string) (*pcapSource, error) {
	hdr, err := br.Peek(24)
	if len(hdr) < 24 {
		if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, &FormatError{File: name, Reason: fmt.Sprintf("capture truncated at byte %d: file header incomplete; no packets read", len(hdr)), Offset: int64(len(hdr))}
		}
		return nil, &FormatError{File: name, Reason: "pcap file header: " + err.Error(), Offset: 0}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(hdr))
	if err != nil {
		return nil, &FormatError{File: name, Reason: "pcap file header: " + err.Error(), Offset: 0}
	}
	// gopacket's LinkType is a uint8: read the 32-bit link type ourselves
	// so that e.g. Linux SLL2 (276) is not mistaken for another type.
	s := &pcapSource{in: br, nanoFactor: 1000, pos: 24}
	switch binary.LittleEndian.Uint32(hdr[0:4]) {
	case magicPcapUs:
	case magicPcapNs:
		s.nanoFactor = 1
	default:
		s.bigEndian = true
		if binary.BigEndian.Uint32(hdr[0:4]) == magicPcapNs {
			s.nanoFactor = 1
		}
	}
	s.link = linkType(s.u32(hdr[20:24]))
	if !supportedLink(s.link) {
		return nil, &FormatError{File: name, Reason: fmt.Sprintf("unsupported link type %d (%s)", int(s.link), linkName(s.link)), Offset: 20}
	}
	s.snaplen = int(r.Snaplen())
	if s.snaplen == 0 || s.snaplen > maxSnaplen {
		s.snaplen = maxSnaplen
	}
	if _, err := br.Discard(24); err != nil {
		return nil, &FormatError{File: name, Reason: "pcap file header: " + err.Error(), Offset: 0}
	}
	return s, nil
}

func (s *pcapSource) u32(b []byte) uint32 {
	if s.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (s *pcapSource) format() string { return "pcap" }
func (s *pcapSource) offset() int64  { return s.bad }

// fill makes at least need bytes available in buf[r:w] (need is at most
// pcapBufSize); false when the input ends first.
func (s *pcapSource) fill(need int) bool {
	if s.buf == nil {
		s.buf = make([]byte, pcapFirstBufSize)
	}
	if s.r+need > len(s.buf) {
		dst := s.buf
		if len(dst) < pcapBufSize {
			dst = make([]byte, pcapBufSize)
		}
		s.w = copy(dst, s.buf[s.r:s.w])
		s.buf, s.r = dst, 0
	}
	for s.w-s.r < need {
		if s.inErr != nil {
			return false
		}
		n, err := s.in.Read(s.buf[s.w:])
		s.w += n
		if err != nil {
			s.inErr = err
		} else if n == 0 {
			s.inErr = io.ErrNoProgress
		}
	}
	return true
}

// next reads one record. A clean end is the file ending exactly at a
// record boundary; anything else (short header, short data, impossible
// lengths, a read error) means the capture stops making sense here.
func (s *pcapSource) next(r *record) error {
	if s.w-s.r < 16 && !s.fill(16) {
		if s.w == s.r && errors.Is(s.inErr, io.EOF) {
			return io.EOF
		}
		return s.truncated()
	}
	hdr := s.buf[s.r : s.r+16]
	// As pcapgo: the fraction is scaled in 32 bits.
	r.ts = time.Unix(int64(s.u32(hdr[0:4])), int64(s.u32(hdr[4:8])*s.nanoFactor)).UTC()
	captured := int(s.u32(hdr[8:12]))
	r.length = int(s.u32(hdr[12:16]))
	r.link = s.link
	if captured > s.snaplen || captured > r.length {
		return s.truncated()
	}
	n := 16 + captured
	if s.w-s.r < n && !s.fill(n) {
		return s.truncated()
	}
	r.data = s.buf[s.r+16 : s.r+n : s.r+n]
	s.r += n
	s.pos += int64(n)
	return nil
}

func (s *pcapSource) truncated() error {
	s.bad = s.pos
	return errTruncated
}

// pcapngSource reads pcapng through pcapgo.NgReader. The reader sits on a
// blockFramer that only passes whole, self-consistent blocks, so a bad
// block length ends the capture at a known offset instead of sending the
// reader into the middle of the next block.
type pcapngSource struct {
	fr *blockFramer
	r  *pcapgo.NgReader
}

func openPcapng(br *bufio.Reader, name string) (*pcapngSource, error) {
	fr := &blockFramer{r: br}
	r, err := pcapgo.NewNgReader(fr, pcapgo.NgReaderOptions{WantMixedLinkType: true})
	if err != nil {
		off := fr.pos
		if fr.bad >= 0 {
			off = fr.bad
		}
		return nil, &FormatError{File: name, Reason: fmt.Sprintf("capture truncated at byte %d: no readable section header; no packets read", off), Offset: off}
	}
	return &pcapngSource{fr: fr, r: r}, nil
}

func (s *pcapngSource) format() string { return "pcapng" }

func (s *pcapngSource) offset() int64 {
	if s.fr.bad >= 0 {
		return s.fr.bad
	}
	return s.fr.pos
}

func (s *pcapngSource) next(r *record) error {
	data, ci, err := s.r.ZeroCopyReadPacketData()
	if err != nil {
		if errors.Is(err, io.EOF) && s.fr.bad < 0 {
			return io.EOF
		}
		if s.fr.bad < 0 {
			// The blocks were well framed but their content was not
			// (e.g. a packet for an interface never described).
			s.fr.bad = s.fr.lastStart
		}
		return errTruncated
	}
	var link linkType
	if len(ci.AncillaryData) > 0 {
		if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
			link = linkType(lt)
		}
	}
	// pcapgo truncates the 16-bit link type to 8 bits; in a single-section
	// file the framer knows the real one.
	if s.fr.sections == 1 && ci.InterfaceIndex >= 0 && ci.InterfaceIndex < len(s.fr.links) {
		link = s.fr.links[ci.InterfaceIndex]
	}
	r.data, r.ts, r.length, r.link = data, ci.Timestamp, ci.Length, link
	return nil
}

// blockFramer is an io.Reader over a pcapng file that delivers only whole
// blocks whose leading and trailing lengths agree, then io.EOF. It records
// where the first bad or incomplete block starts in bad (-1 if none).
type blockFramer struct {
	r         *bufio.Reader
	pos       int64 // offset of the next block to frame
	lastStart int64 // offset of the block being delivered
	bad       int64
	bigEndian bool
	started   bool
	block     []byte // current block
	sections  int
	links     []linkType // link type of each interface of the last section
	rest      []byte     // undelivered part of block
	done      bool
}

func (f *blockFramer) Read(p []byte) (int, error) {
	if !f.started {
		f.started = true
		f.bad = -1
	}
	for len(f.rest) == 0 {
		if f.done {
			return 0, io.EOF
		}
		if !f.frame() {
			f.done = true
			return 0, io.EOF
		}
	}
	n := copy(p, f.rest)
	f.rest = f.rest[n:]
	return n, nil
}

func (f *blockFramer) u32(b []byte) uint32 {
	if f.bigEndian {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// frame reads and checks the next block; false at the end or at the first
// inconsistency (then bad is set).
func (f *blockFramer) frame() bool {
	var hdr [12]byte
	n, err := io.ReadFull(f.r, hdr[:8])
	if n == 0 && errors.Is(err, io.EOF) {
		return false
	}
	if err != nil {
		f.bad = f.pos
		return false
	}
	typ := binary.LittleEndian.Uint32(hdr[0:4])
	if typ == magicPcapngSH {
		if _, err := io.ReadFull(f.r, hdr[8:12]); err != nil {
			f.bad = f.pos
			return false
		}
		switch {
		case binary.LittleEndian.Uint32(hdr[8:12]) == ngByteOrder:
			f.bigEndian = false
		case binary.BigEndian.Uint32(hdr[8:12]) == ngByteOrder:
			f.bigEndian = true
		default:
			f.bad = f.pos
			return false
		}
	}
	length := f.u32(hdr[4:8])
	hl := 8
	if typ == magicPcapngSH {
		hl = 12
	}
	if length < 12 || length%4 != 0 || length > maxBlock || int(length) < hl+4 {
		f.bad = f.pos
		return false
	}
	if cap(f.block) < int(length) {
		f.block = make([]byte, length)
	}
	b := f.block[:length]
	copy(b, hdr[:hl])
	if _, err := io.ReadFull(f.r, b[hl:]); err != nil {
		f.bad = f.pos
		return false
	}
	if f.u32(b[length-4:]) != length {
		f.bad = f.pos
		return false
	}
	// Packet blocks must hold the captured length they announce.
	btype := f.u32(b[0:4])
	switch btype {
	case magicPcapngSH:
		f.sections++
		f.links = f.links[:0]
	case 1: // interface description: link type is the first 16 bits
		if f.bigEndian {
			f.links = append(f.links, linkType(binary.BigEndian.Uint16(b[8:10])))
		} else {
			f.links = append(f.links, linkType(binary.LittleEndian.Uint16(b[8:10])))
		}
	}
	if btype == 6 || btype == 2 {
		if length < 32 || f.u32(b[20:24]) > length-32 {
			f.bad = f.pos
			return false
		}
	}
	f.lastStart = f.pos
	f.pos += int64(length)
	f.rest = b
	return true
}

// linkType is a DLT/LINKTYPE value (gopacket's LinkType is only 8 bits).
type linkType uint16

const (
	linkNull      linkType = 0
	linkEthernet  linkType = 1
	linkRawA      linkType = 12 // raw IP on some BSDs
	linkRawB      linkType = 14 // raw IP on OpenBSD
	linkRaw       linkType = 101
	linkLoop      linkType = 108
	linkLinuxSLL  linkType = 113
	linkIPv4      linkType = 228
	linkIPv6      linkType = 229
	linkLinuxSLL2 linkType = 276
)

// linkName names a link type for Stats.LinkType and messages.
func linkName(l linkType) string {
	switch l {
	case linkEthernet:
		return "Ethernet"
	case linkNull:
		return "NULL"
	case linkLoop:
		return "Loop"
	case linkLinuxSLL:
		return "Linux SLL"
	case linkLinuxSLL2:
		return "Linux SLL2"
	case linkRaw, linkRawA, linkRawB, linkIPv4, linkIPv6:
		return "Raw IP"
	}
	if l < 256 {
		if n := layers.LinkType(l).String(); n != "" && !strings.HasPrefix(n, "UnknownLinkType") {
			return fmt.Sprintf("DLT %d %s", int(l), n)
		}
	}
	return fmt.Sprintf("DLT %d", int(l))
}

func supportedLink(l linkType) bool {
	switch l {
	case linkEthernet, linkNull, linkLoop, linkLinuxSLL, linkLinuxSLL2, linkRaw, linkRawA, linkRawB, linkIPv4, linkIPv6:
		return true
	}
	return false
}

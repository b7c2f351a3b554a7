//go:build linux

package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// packetSocket is a receive-only AF_PACKET socket, pure Go. It is the same
// mechanism as pcapgo.EthernetHandle (recvmsg with PACKET_AUXDATA and
// SO_TIMESTAMPNS on an ETH_P_ALL socket), written out here for three
// reasons that matter on a SPAN port:
//   - the descriptor is non-blocking and sits in Go's netpoller, so Close
//     from another goroutine wakes a read that waits on an idle link (an
//     EthernetHandle read blocks until the next frame, and its Close races
//     with that read on the descriptor);
//   - the receive buffer holds a whole frame (EthernetHandle sizes it to the
//     MTU, cutting 14 bytes off full-size frames);
//   - the 802.1Q tag the kernel strips into the auxiliary data is put back
//     into the frame, as libpcap does, so VLANs on a trunk are seen.
//
// It never transmits: nothing in this file writes to the socket, and the
// socket has no address a reply could come from.
type packetSocket struct {
	file  *os.File
	raw   rawConn
	iface string
	buf   []byte // vlanRoom bytes of headroom, then the frame
	oob   []byte
	recv  func(fd uintptr) bool // preallocated read callback

	// Results of the last recv callback.
	n, oobn int
	err     error

	dropped, received atomic.Int64 // kernel counters, cumulated
	closed            atomic.Bool
}

// rawConn is syscall.RawConn (named here to keep the imports small).
type rawConn interface {
	Control(f func(fd uintptr)) error
	Read(f func(fd uintptr) (done bool)) error
}

const vlanRoom = 4

// auxdataLen is sizeof(struct tpacket_auxdata): status, len, snaplen (u32),
// mac, net, vlan_tci, vlan_tpid (u16).
const auxdataLen = 20

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// openPacketSocket opens iface for capture with filter attached before the
// socket is bound, so no frame reaches the reader unfiltered.
func openPacketSocket(iface string, filter []bpf.RawInstruction, promisc bool) (*packetSocket, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	// Protocol 0: the socket receives nothing until bind names ETH_P_ALL.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &PermissionError{Interface: iface, Err: err}
		}
		return nil, fmt.Errorf("live capture on %s: open packet socket: %w", iface, err)
	}
	fail := func(op string, err error) (*packetSocket, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("live capture on %s: %s: %w", iface, op, err)
	}
	if len(filter) > 0 {
		prog := make([]unix.SockFilter, len(filter))
		for i, ins := range filter {
			prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
		}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}); err != nil {
			return fail("attach kernel filter", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_AUXDATA, 1); err != nil {
		return fail("enable auxiliary data", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fail("enable timestamps", err)
	}
	// A larger receive queue rides out bursts while the analysis catches up.
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return fail("bind", err)
	}
	if promisc {
		mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	// Statistics count from the first read: reset what bind let in.
	_, _ = unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	f := os.NewFile(uintptr(fd), "packet:"+iface)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	s := &packetSocket{
		file: f, raw: rc, iface: iface,
		buf: make([]byte, vlanRoom+maxSnaplen),
		oob: make([]byte, unix.CmsgSpace(auxdataLen)+unix.CmsgSpace(16)+64),
	}
	s.recv = s.recvOnce
	return s, nil
}

func (s *packetSocket) recvOnce(fd uintptr) bool {
	s.n, s.oobn, _, _, s.err = unix.Recvmsg(int(fd), s.buf[vlanRoom:], s.oob, unix.MSG_TRUNC)
	return s.err != unix.EAGAIN && s.err != unix.EINTR
}

// errSocketClosed ends a capture whose socket was closed (ctx ended).
var errSocketClosed = errors.New("capture socket closed")

// read returns the next frame; data is valid until the next call. It
// returns errSocketClosed once close was called.
func (s *packetSocket) read() ([]byte, gopacket.CaptureInfo, error) {
	var ci gopacket.CaptureInfo
	if err := s.raw.Read(s.recv); err != nil {
		if s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return nil, ci, errSocketClosed
		}
		return nil, ci, fmt.Errorf("live capture on %s: read: %w", s.iface, err)
	}
	if s.err != nil {
		return nil, ci, fmt.Errorf("live capture on %s: read: %w", s.iface, s.err)
	}
	wire := s.n // with MSG_TRUNC: the frame's real length
	capLen := min(wire, len(s.buf)-vlanRoom)
	ci.Length, ci.CaptureLength = wire, capLen
	var vlanTCI, vlanTPID uint16
	var tagged bool
	oob := s.oob[:s.oobn]
	for len(oob) > 0 {
		hdr, data, rest, err := unix.ParseOneSocketControlMessage(oob)
		if err != nil {
			break
		}
		oob = rest
		switch {
		case hdr.Level == unix.SOL_PACKET && hdr.Type == unix.PACKET_AUXDATA && len(data) >= auxdataLen:
			status := binary.NativeEndian.Uint32(data[0:4])
			ci.Length = int(binary.NativeEndian.Uint32(data[4:8]))
			vlanTCI = binary.NativeEndian.Uint16(data[16:18])
			vlanTPID = binary.NativeEndian.Uint16(data[18:20])
			tagged = status&unix.TP_STATUS_VLAN_VALID != 0 || vlanTCI != 0
			if status&unix.TP_STATUS_VLAN_TPID_VALID == 0 {
				vlanTPID = 0x8100
			}
		case hdr.Level == unix.SOL_SOCKET && hdr.Type == unix.SO_TIMESTAMPNS && len(data) >= 16:
			// struct timespec on 64-bit Linux; elsewhere time.Now below.
			sec := int64(binary.NativeEndian.Uint64(data[0:8]))
			nsec := int64(binary.NativeEndian.Uint64(data[8:16]))
			ci.Timestamp = time.Unix(sec, nsec)
		}
	}
	if ci.Timestamp.IsZero() {
		ci.Timestamp = time.Now()
	}
	frame := s.buf[vlanRoom : vlanRoom+capLen]
	if tagged && capLen >= 12 {
		// Put the stripped tag back between the MAC addresses and the
		// EtherType, using the headroom in front of the frame.
		frame = s.buf[:vlanRoom+capLen]
		copy(frame[0:12], s.buf[vlanRoom:vlanRoom+12])
		binary.BigEndian.PutUint16(frame[12:14], vlanTPID)
		binary.BigEndian.PutUint16(frame[14:16], vlanTCI)
		ci.CaptureLength += vlanRoom
		ci.Length += vlanRoom
	}
	return frame, ci, nil
}

// stats adds the kernel's counters since the last call to the totals and
// returns the totals (the last ones once the socket is closed).
func (s *packetSocket) stats() (received, dropped int64) {
	_ = s.raw.Control(func(fd uintptr) {
		if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			// tp_packets includes the drops.
			s.received.Add(int64(st.Packets))
			s.dropped.Add(int64(st.Drops))
		}
	})
	return s.received.Load(), s.dropped.Load()
}

// close wakes a read in progress (it returns errSocketClosed) and releases
// the socket; promiscuous membership ends with it.
func (s *packetSocket) close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stats() // the last counters, while the socket is still there
	return s.file.Close()
}

//go:build linux && cgo && afpacket

package pcap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/afpacket"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// afpacketBuilt says this build has the afpacket backend.
const afpacketBuilt = true

// Ring geometry: blocks of 1 MiB hold the largest frame (GRO on virtual
// links hands over frames far beyond the MTU) and 32 of them ride out a
// burst of ~30 ms at 10 Gb/s while the analysis catches up. A block the
// kernel has started is handed over after afpacketBlockTimeout even when
// not full, so a quiet link still reaches the analysis.
const (
	afpacketBlockSize    = 1 << 20
	afpacketBlocks       = 32
	afpacketFrameSize    = 1 << 16
	afpacketBlockTimeout = 20 * time.Millisecond
	// afpacketPoll bounds how long a read waits in the ring without
	// looking at whether the capture was closed.
	afpacketPoll = 100 * time.Millisecond
)

// afpacketReader reads frames from gopacket's TPACKET_V3 ring: the kernel
// writes frames into memory shared with the process, so a busy link costs
// no system call per frame (the socket backend makes one).
//
// Each frame is copied out of the ring into buf before read returns: the
// ring is unmapped by close, which another goroutine calls when the
// capture's context ends, and a frame the analysis is still reading must
// not vanish with it. mu keeps close out while read waits in the ring (at
// most afpacketPoll). The copy is also where an 802.1Q tag the kernel
// took out is put back (gopacket's own option allocates a frame for it).
//
// gopacket's TPacket binds to the interface before a filter can be set:
// the frames of the first instants arrive whole, which the analysis reads
// like those of a FullPayload capture. It never transmits: nothing here
// writes to the ring's socket.
type afpacketReader struct {
	iface string

	mu      sync.Mutex
	tp      *afpacket.TPacket // nil once closed
	promisc int               // socket holding the promiscuous membership, -1 for none
	closed  bool
	buf     []byte // vlanRoom bytes of headroom, then the frame

	received, dropped int64 // kernel counters, cumulated (under mu)
}

func openAFPacket(iface string, filter []bpf.RawInstruction, promisc bool) (frameReader, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(iface),
		afpacket.OptFrameSize(afpacketFrameSize),
		afpacket.OptBlockSize(afpacketBlockSize),
		afpacket.OptNumBlocks(afpacketBlocks),
		afpacket.OptBlockTimeout(afpacketBlockTimeout),
		afpacket.OptPollTimeout(afpacketPoll),
		afpacket.TPacketVersion3,
		afpacket.SocketRaw,
	)
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, &PermissionError{Interface: iface, Err: err}
		}
		return nil, fmt.Errorf("live capture on %s: open afpacket ring: %w", iface, err)
	}
	r := &afpacketReader{iface: iface, tp: tp, promisc: -1, buf: make([]byte, vlanRoom+afpacketBlockSize)}
	fail := func(op string, err error) (frameReader, error) {
		r.release()
		return nil, fmt.Errorf("live capture on %s: %s: %w", iface, op, err)
	}
	if len(filter) > 0 {
		if err := tp.SetBPF(filter); err != nil {
			return fail("attach kernel filter", err)
		}
	}
	if promisc {
		// TPacket has no promiscuous option and keeps its socket to
		// itself: a second packet socket of protocol 0 (it receives
		// nothing) holds the membership, which ends when it is closed.
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fail("promiscuous mode", err)
		}
		r.promisc = fd
		mreq := unix.PacketMreq{Ifindex: int32(ifc.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous mode", err)
		}
	}
	// Statistics count from the first read: reset what bind let in.
	if err := tp.InitSocketStats(); err != nil {
		return fail("reset statistics", err)
	}
	return r, nil
}

func (r *afpacketReader) read() ([]byte, gopacket.CaptureInfo, error) {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return nil, gopacket.CaptureInfo{}, errSocketClosed
		}
		data, ci, err := r.tp.ZeroCopyReadPacketData()
		if err == nil {
			frame := r.copyOut(data, &ci)
			r.mu.Unlock()
			return frame, ci, nil
		}
		r.mu.Unlock()
		if !errors.Is(err, afpacket.ErrTimeout) {
			return nil, ci, fmt.Errorf("live capture on %s: read: %w", r.iface, err)
		}
	}
}

// copyOut copies a frame out of the ring, with the 802.1Q tag the kernel
// reported put back between the MAC addresses and the EtherType (TPID
// 0x8100: the ring reports the VLAN ID alone).
func (r *afpacketReader) copyOut(data []byte, ci *gopacket.CaptureInfo) []byte {
	vlan := -1
	for _, a := range ci.AncillaryData {
		if v, ok := a.(afpacket.AncillaryVLAN); ok {
			vlan = v.VLAN
		}
	}
	n := min(len(data), len(r.buf)-vlanRoom)
	if vlan < 0 || n < 12 {
		ci.CaptureLength = copy(r.buf[vlanRoom:], data[:n])
		return r.buf[vlanRoom : vlanRoom+n]
	}
	frame := r.buf[:vlanRoom+n]
	copy(frame[0:12], data[0:12])
	binary.BigEndian.PutUint16(frame[12:14], 0x8100)
	binary.BigEndian.PutUint16(frame[14:16], uint16(vlan))
	copy(frame[16:], data[12:n])
	ci.CaptureLength = len(frame)
	ci.Length += vlanRoom
	return frame
}

func (r *afpacketReader) stats() (received, dropped int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.collectStats()
	return r.received, r.dropped
}

// collectStats reads the ring's counters (under mu, while it is open).
func (r *afpacketReader) collectStats() {
	if r.tp == nil {
		return
	}
	// gopacket adds each reading to its own totals; tp_packets includes
	// the drops.
	if _, st, err := r.tp.SocketStats(); err == nil {
		r.received, r.dropped = int64(st.Packets()), int64(st.Drops())
	}
}

func (r *afpacketReader) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	r.collectStats() // the last counters, while the ring is still there
	r.release()
	return nil
}

// release unmaps the ring and ends the promiscuous membership.
func (r *afpacketReader) release() {
	if r.tp != nil {
		r.tp.Close()
		r.tp = nil
	}
	if r.promisc >= 0 {
		unix.Close(r.promisc)
		r.promisc = -1
	}
}

package pcap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
)

// Live capture: the same analysis as a capture file, fed from an AF_PACKET
// socket (live_linux.go) or ring (live_afpacket.go) instead of a file. It only ever receives; passive
// means the agent transmits nothing on the monitored segment (proved by
// TestLiveSendsNothing in a network namespace pair).

// LiveOptions configure a live capture.
type LiveOptions struct {
	Options
	// Flush is how much packet time one emitted Result covers; 0 means a
	// single Result when the capture ends. A window's tables start empty,
	// so memory is bounded by one window's hosts and flows.
	Flush time.Duration
	// FullPayload turns the kernel filter off: every frame is delivered
	// whole. By default frames of ports no decoder reads are cut to
	// HeaderSnap bytes in the kernel (hosts, flows and protocol signatures
	// are still seen; their flows' byte counts then count only what was
	// delivered).
	FullPayload bool
	// NoPromiscuous leaves the interface out of promiscuous mode (on a
	// SPAN or mirror port it must be on to see other hosts' traffic).
	NoPromiscuous bool
	// Backend is how frames come from the kernel: BackendSocket (the
	// default, "" too) or BackendAFPacket, when this build has it.
	Backend string
}

// Capture backends. The socket is pure Go and copies each frame out of
// the kernel with one system call; afpacket (gopacket's TPACKET_V3 ring,
// shared memory, no system call per frame) needs cgo, so it is only in
// builds with the afpacket tag (`go build -tags afpacket`).
const (
	BackendSocket   = "socket"
	BackendAFPacket = "afpacket"
)

// frameReader is a capture backend: receive only.
type frameReader interface {
	// read returns the next frame, valid until the next call, with any
	// 802.1Q tag the kernel took out put back; errSocketClosed once
	// close was called.
	read() ([]byte, gopacket.CaptureInfo, error)
	// stats returns the kernel's counters since the capture began.
	stats() (received, dropped int64)
	// close wakes a read in progress and releases the capture; safe to
	// call from another goroutine and more than once.
	close() error
}

// errNoAFPacket says the afpacket backend was asked of a build without it.
var errNoAFPacket = fmt.Errorf("this otaudit was built without the %s backend: build it with `go build -tags afpacket` (needs cgo and a C compiler, Linux only), or use the %s backend", BackendAFPacket, BackendSocket)

// CheckBackend says whether this build can capture with backend ("" is
// the default, BackendSocket), so that a scan can refuse it before it
// begins.
func CheckBackend(backend string) error {
	switch backend {
	case "", BackendSocket:
		return nil
	case BackendAFPacket:
		if !afpacketBuilt {
			return errNoAFPacket
		}
		return nil
	}
	return fmt.Errorf("unknown capture backend %q (want %s or %s)", backend, BackendSocket, BackendAFPacket)
}

// openFrameReader opens iface with the backend named, filter attached
// (nil: every frame whole).
func openFrameReader(iface, backend string, filter []bpf.RawInstruction, promisc bool) (frameReader, error) {
	if err := CheckBackend(backend); err != nil {
		return nil, fmt.Errorf("live capture on %s: %w", iface, err)
	}
	if backend == BackendAFPacket {
		return openAFPacket(iface, filter, promisc)
	}
	s, err := openPacketSocket(iface, filter, promisc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// HeaderSnap is how much of a frame the default kernel filter keeps when
// no decoder reads its ports: room for Ethernet, two VLAN tags, an IPv6
// header, a TCP header with options and the first payload bytes that the
// signature detection looks at.
const HeaderSnap = 256

// wholeFrame is the filter's "keep everything" (the kernel caps it at the
// frame length).
const wholeFrame = maxSnaplen

// PermissionError says the process may not open a packet socket.
type PermissionError struct {
	Interface string
	Err       error
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("live capture on %s needs CAP_NET_RAW (run as root or grant the capability): %v", e.Interface, e.Err)
}

func (e *PermissionError) Unwrap() error { return e.Err }

// Live captures on iface until ctx ends, handing emit one Result per Flush
// window of packet time and a last one for what remains (a window without
// packets emits nothing). The end of ctx is how a capture stops: it then
// returns the cumulated Stats and a nil error. An error from emit stops the
// capture and is returned. Without CAP_NET_RAW it fails with a
// *PermissionError before reading anything.
func Live(ctx context.Context, iface string, opts LiveOptions, emit func(*Result) error) (Stats, error) {
	total := Stats{Format: "live", LinkType: linkName(linkEthernet)}
	var filter []bpf.RawInstruction
	if !opts.FullPayload {
		tcp, udp := decoderPorts()
		var err error
		if filter, err = kernelFilter(tcp, udp, HeaderSnap); err != nil {
			return total, fmt.Errorf("live capture on %s: %w", iface, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return total, nil
	}
	sock, err := openFrameReader(iface, opts.Backend, filter, !opts.NoPromiscuous)
	if err != nil {
		return total, err
	}
	defer sock.close()
	// Closing the socket is what wakes a read waiting on a quiet link.
	stop := context.AfterFunc(ctx, func() { sock.close() })
	defer stop()

	l := &liveRun{opts: opts, name: "live:" + iface, sock: sock, emit: emit, total: &total}
	if l.opts.Logger != nil {
		l.opts.Logger.Info("live capture started", "interface", iface, "kernel_filter", !opts.FullPayload, "flush", opts.Flush)
	}
	for {
		data, ci, err := sock.read()
		if err != nil {
			if errors.Is(err, errSocketClosed) {
				return total, l.flush()
			}
			return total, errors.Join(err, l.flush())
		}
		if err := l.frame(data, ci.Timestamp, ci.Length); err != nil {
			return total, err
		}
	}
}

// liveRun is the state of one live capture across its windows.
type liveRun struct {
	opts  LiveOptions
	name  string
	sock  frameReader
	emit  func(*Result) error
	total *Stats

	a           *analysis // current window; nil before its first packet
	windowStart time.Time
	frames      int64 // frame numbers run on across windows
	dropped     int64 // kernel drops already reported
}

func (l *liveRun) frame(data []byte, ts time.Time, wireLen int) error {
	if l.a != nil && l.opts.Flush > 0 && ts.Sub(l.windowStart) >= l.opts.Flush {
		if err := l.flush(); err != nil {
			return err
		}
	}
	if l.a == nil {
		maxFlows := l.opts.MaxFlows
		if maxFlows <= 0 {
			maxFlows = 1 << 20
		}
		logger := l.opts.Logger
		if logger == nil {
			logger = slog.New(slog.DiscardHandler)
		}
		l.a = newAnalysis(l.name, l.opts.Judge, logger.With("collector", "pcap", "interface", l.name), maxFlows)
		l.a.stats.Format, l.a.stats.LinkType, l.a.linkSet = "live", linkName(linkEthernet), true
		l.windowStart = ts
	}
	a := l.a
	l.frames++
	a.stats.Packets++
	a.stats.Bytes += int64(len(data))
	if a.stats.Packets == 1 || ts.Before(a.stats.FirstPacket) {
		a.stats.FirstPacket = ts
	}
	if ts.After(a.stats.LastPacket) {
		a.stats.LastPacket = ts
	}
	a.packet(linkEthernet, data, l.frames, ts, wireLen)
	a.expireIdle(ts)
	return nil
}

// flush emits the current window, with the kernel drops since the last one.
func (l *liveRun) flush() error {
	_, dropped := l.sock.stats()
	if l.a == nil {
		l.total.Dropped = dropped
		return nil
	}
	l.a.stats.Dropped = dropped - l.dropped
	l.dropped = dropped
	if l.a.stats.Dropped > 0 {
		l.a.warnf("the kernel dropped %d frames: the analysis did not keep up with the link", l.a.stats.Dropped)
	}
	r := l.a.result()
	l.a = nil
	t := l.total
	if t.Packets == 0 {
		t.FirstPacket = r.Stats.FirstPacket
	}
	t.Packets += r.Stats.Packets
	t.Bytes += r.Stats.Bytes
	t.DecodeErrors += r.Stats.DecodeErrors
	t.Evictions += r.Stats.Evictions
	t.ClosedEvictions += r.Stats.ClosedEvictions
	t.Dropped = dropped
	t.LastPacket = r.Stats.LastPacket
	t.Warnings = append(t.Warnings, r.Stats.Warnings...)
	if l.emit == nil {
		return nil
	}
	return l.emit(r)
}

// decoderPorts are the ports whose payload some decoder reads: those of
// the registered stream and datagram dissectors, of the remote-access
// protocols (whose sessions count bytes each way) and DNS (read on the
// flow fast path for remote tools' names, dns.go).
func decoderPorts() (tcp, udp []uint16) {
	for port, name := range tcpPorts {
		if tcpDissectors[name] != nil || remoteProtocols[name] {
			tcp = append(tcp, port)
		}
	}
	for port, name := range udpPorts {
		if udpDissectors[name] != nil || remoteProtocols[name] || name == "dns" {
			udp = append(udp, port)
		}
	}
	slices.Sort(tcp)
	slices.Sort(udp)
	return tcp, udp
}

// kernelFilter builds the classic BPF program the socket runs on every
// frame. It returns how many bytes to deliver:
//   - non-IP frames (ARP, LLDP, PROFINET DCP, …): whole;
//   - TCP or UDP with a source or destination port in tcp/udp: whole;
//   - any other IP frame, and non-first fragments: the first snap bytes.
//
// Up to two 802.1Q/802.1ad tags left in the frame are skipped (the kernel
// usually strips the outer one into the auxiliary data). IPv6 extension
// headers are not walked: such frames get the snap.
func kernelFilter(tcp, udp []uint16, snap uint32) ([]bpf.RawInstruction, error) {
	var p bpfAsm
	// A = EtherType, X = offset of the network header.
	p.add(bpf.LoadAbsolute{Off: 12, Size: 2})
	p.jeq(0x8100, "tag1", "")
	p.jeq(0x88a8, "tag1", "")
	p.jeq(0x9100, "tag1", "")
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 14})
	p.ja("l3")
	p.label("tag1")
	p.add(bpf.LoadAbsolute{Off: 16, Size: 2})
	p.jeq(0x8100, "tag2", "")
	p.jeq(0x88a8, "tag2", "")
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 18})
	p.ja("l3")
	p.label("tag2")
	p.add(bpf.LoadAbsolute{Off: 20, Size: 2})
	p.add(bpf.LoadConstant{Dst: bpf.RegX, Val: 22})
	p.label("l3")
	p.jeq(0x0800, "ip4", "")
	p.jeq(0x86dd, "ip6", "")
	p.add(bpf.RetConstant{Val: wholeFrame})

	p.label("ip4")
	p.add(bpf.LoadIndirect{Off: 9, Size: 1})
	p.add(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	p.jeq(6, "ip4l4", "")
	p.jeq(17, "ip4l4", "snap")
	p.label("ip4l4")
	p.add(bpf.LoadIndirect{Off: 6, Size: 2})
	p.jset(0x1fff, "snap", "")
	p.add(bpf.LoadIndirect{Off: 0, Size: 1})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	p.add(bpf.ALUOpX{Op: bpf.ALUOpAdd})
	p.add(bpf.TAX{})
	p.ja("ports")

	p.label("ip6")
	p.add(bpf.LoadIndirect{Off: 6, Size: 1})
	p.add(bpf.StoreScratch{Src: bpf.RegA, N: 0})
	p.jeq(6, "ip6l4", "")
	p.jeq(17, "ip6l4", "snap")
	p.label("ip6l4")
	p.add(bpf.TXA{})
	p.add(bpf.ALUOpConstant{Op: bpf.ALUOpAdd, Val: 40})
	p.add(bpf.TAX{})

	// X = offset of the TCP/UDP header, M[0] = IP protocol.
	p.label("ports")
	p.add(bpf.LoadScratch{Dst: bpf.RegA, N: 0})
	p.jeq(6, "tcp", "")
	p.portList("udp", udp, snap)
	p.label("tcp")
	p.portList("tcp", tcp, snap)
	p.label("snap")
	p.add(bpf.RetConstant{Val: snap})
	return p.assemble()
}

// maxBPFInstructions is the kernel's BPF_MAXINSNS.
const maxBPFInstructions = 4096

// bpfAsm assembles classic BPF with symbolic jump targets.
type bpfAsm struct {
	ins    []bpf.Instruction
	labels map[string]int
	jumps  []bpfJump
}

type bpfJump struct {
	at          int
	true, false string // "" = next instruction
}

func (p *bpfAsm) add(i bpf.Instruction) { p.ins = append(p.ins, i) }

func (p *bpfAsm) label(name string) {
	if p.labels == nil {
		p.labels = map[string]int{}
	}
	p.labels[name] = len(p.ins)
}

func (p *bpfAsm) cond(c bpf.JumpTest, v uint32, t, f string) {
	p.jumps = append(p.jumps, bpfJump{at: len(p.ins), true: t, false: f})
	p.add(bpf.JumpIf{Cond: c, Val: v})
}

func (p *bpfAsm) jeq(v uint32, t, f string)  { p.cond(bpf.JumpEqual, v, t, f) }
func (p *bpfAsm) jset(v uint32, t, f string) { p.cond(bpf.JumpBitsSet, v, t, f) }

func (p *bpfAsm) ja(t string) {
	p.jumps = append(p.jumps, bpfJump{at: len(p.ins), true: t})
	p.add(bpf.Jump{})
}

// portList: whole frame when the source or destination port (16-bit words
// at X and X+2) is in ports, else the snap. Each list ends in its own
// returns so no jump gets longer than the list.
func (p *bpfAsm) portList(name string, ports []uint16, snap uint32) {
	keep := name + "-keep"
	for _, off := range []uint32{0, 2} {
		p.add(bpf.LoadIndirect{Off: off, Size: 2})
		for _, port := range ports {
			p.jeq(uint32(port), keep, "")
		}
	}
	p.add(bpf.RetConstant{Val: snap})
	p.label(keep)
	p.add(bpf.RetConstant{Val: wholeFrame})
}

func (p *bpfAsm) assemble() ([]bpf.RawInstruction, error) {
	skip := func(from int, label string) (int, error) {
		if label == "" {
			return 0, nil
		}
		to, ok := p.labels[label]
		if !ok {
			return 0, fmt.Errorf("kernel filter: no label %q", label)
		}
		return to - from - 1, nil
	}
	for _, j := range p.jumps {
		t, err := skip(j.at, j.true)
		if err != nil {
			return nil, err
		}
		f, err := skip(j.at, j.false)
		if err != nil {
			return nil, err
		}
		switch ins := p.ins[j.at].(type) {
		case bpf.Jump:
			ins.Skip = uint32(t)
			p.ins[j.at] = ins
		case bpf.JumpIf:
			if t < 0 || t > 255 || f < 0 || f > 255 {
				return nil, fmt.Errorf("kernel filter: jump from %d too long (%d, %d); too many decoder ports", j.at, t, f)
			}
			ins.SkipTrue, ins.SkipFalse = uint8(t), uint8(f)
			p.ins[j.at] = ins
		}
	}
	if len(p.ins) > maxBPFInstructions {
		return nil, fmt.Errorf("kernel filter: %d instructions, more than the kernel's %d", len(p.ins), maxBPFInstructions)
	}
	return bpf.Assemble(p.ins)
}

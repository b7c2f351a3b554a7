//go:build linux

package arpsweep

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"
)

// newSystemNetwork is the machine's interfaces, read once per sweeper (a
// scan): raw AF_PACKET sockets, which need CAP_NET_RAW.
func newSystemNetwork() Network { return &systemNetwork{} }

type systemNetwork struct {
	once  sync.Once
	links []attached
	own   map[netip.Addr]bool
}

type attached struct {
	prefix netip.Prefix
	link   Link
}

func (n *systemNetwork) load() {
	n.own = map[netip.Addr]bool{}
	ifcs, err := net.Interfaces()
	if err != nil {
		return
	}
	for _, ifc := range ifcs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		arp := ifc.Flags&net.FlagUp != 0 && ifc.Flags&net.FlagLoopback == 0 &&
			ifc.Flags&net.FlagBroadcast != 0 && len(ifc.HardwareAddr) == hwAddrLen
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			n.own[p.Addr().Unmap()] = true
			if !arp || !p.Addr().Is4() || p.Bits() >= 31 {
				continue
			}
			n.links = append(n.links, attached{prefix: p.Masked(), link: Link{Interface: ifc.Name, Index: ifc.Index,
				MAC: ifc.HardwareAddr.String(), Source: p.Addr()}})
		}
	}
}

// Attached is the first up, broadcast-capable Ethernet interface whose
// IPv4 prefix holds target, except for the prefix's network and broadcast
// addresses and the machine's own addresses.
func (n *systemNetwork) Attached(target netip.Addr) (Link, bool) {
	n.once.Do(n.load)
	target = target.Unmap()
	if !target.Is4() || n.own[target] {
		return Link{}, false
	}
	for _, a := range n.links {
		if !a.prefix.Contains(target) || target == a.prefix.Addr() || target == lastAddr(a.prefix) {
			continue
		}
		return a.link, true
	}
	return Link{}, false
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ErrNeedsCapNetRaw: raw ARP needs CAP_NET_RAW (root, or the capability on
// the binary or the systemd unit).
var ErrNeedsCapNetRaw = errors.New("sending ARP requests needs CAP_NET_RAW (run as root or grant the capability): empty addresses will cost a connect timeout each")

// Open opens an ARP packet socket on link. Its receive loop hands every
// ARP sender another host sends to heard.
func (n *systemNetwork) Open(link Link, heard func(netip.Addr, net.HardwareAddr)) (Conn, error) {
	mac, err := net.ParseMAC(link.MAC)
	if err != nil {
		return nil, fmt.Errorf("interface MAC %q: %w", link.MAC, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			return nil, fmt.Errorf("socket: %w: %w", ErrNeedsCapNetRaw, err)
		}
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: link.Index}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("bind %s: %w", link.Interface, err)
	}
	// A short receive timeout lets the loop notice Close.
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Usec: 50_000}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("receive timeout: %w", err)
	}
	c := &sysConn{fd: fd, link: link, mac: mac, done: make(chan struct{}), stopped: make(chan struct{})}
	go c.receive(heard)
	return c, nil
}

type sysConn struct {
	fd      int
	link    Link
	mac     net.HardwareAddr
	done    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

func (c *sysConn) receive(heard func(netip.Addr, net.HardwareAddr)) {
	defer close(c.stopped)
	buf := make([]byte, 128)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, from, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			return
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own requests, and the kernel's
		}
		if ip, mac, ok := sender(buf[:n]); ok {
			heard(ip, mac)
		}
	}
}

// WhoHas broadcasts one ARP request for target.
func (c *sysConn) WhoHas(_ context.Context, target netip.Addr) error {
	b, err := request(c.mac, c.link.Source, target)
	if err != nil {
		return err
	}
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: c.link.Index, Halen: hwAddrLen,
		Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(c.fd, b, 0, to); err != nil {
		return fmt.Errorf("arp %s: send: %w", c.link.Interface, err)
	}
	return nil
}

// Close stops the receive loop and closes the socket; no heard call
// happens after it returns.
func (c *sysConn) Close() error {
	var err error
	c.once.Do(func() {
		close(c.done)
		<-c.stopped
		err = unix.Close(c.fd)
	})
	return err
}

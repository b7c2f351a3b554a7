package bacnet

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
)

// iAmListener hears what devices send to the BACnet port itself: most
// answer a Who-Is with an I-Am broadcast to that port (Annex J), which a
// socket connected to the device never sees (connect() narrows its local
// address to the unicast one). One socket serves every probe of a scan,
// opened with the first and closed with the last; it only receives.
type iAmListener struct {
	port uint16

	mu   sync.Mutex
	conn *net.UDPConn
	subs map[netip.Addr]chan []byte
}

// hear subscribes to the datagrams ip sends to the BACnet port. ch is nil
// when the port cannot be had (another program holds it without sharing):
// only unicast replies are heard then.
func (l *iAmListener) hear(ip netip.Addr) (ch <-chan []byte, release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conn == nil {
		lc := net.ListenConfig{Control: shareLocalPort}
		pc, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(int(l.port))))
		if err != nil {
			return nil, func() {}, err
		}
		l.conn, l.subs = pc.(*net.UDPConn), map[netip.Addr]chan []byte{}
		go l.receive(l.conn)
	}
	c := make(chan []byte, 4)
	ip = ip.Unmap()
	l.subs[ip] = c
	return c, func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.subs[ip] == c {
			delete(l.subs, ip)
		}
		if len(l.subs) == 0 && l.conn != nil {
			l.conn.Close()
			l.conn = nil
		}
	}, nil
}

func (l *iAmListener) receive(conn *net.UDPConn) {
	buf := make([]byte, maxDatagram+1)
	for {
		n, from, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return // closed by the last release
		}
		l.mu.Lock()
		if c := l.subs[from.Addr().Unmap()]; c != nil {
			select {
			case c <- append([]byte(nil), buf[:n]...):
			default: // a device flooding the port: the first few are enough
			}
		}
		l.mu.Unlock()
	}
}

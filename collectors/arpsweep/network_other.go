//go:build !linux

package arpsweep

import (
	"errors"
	"net"
	"net/netip"
)

// newSystemNetwork: raw ARP is implemented for Linux only; elsewhere no
// target is on an attached link as far as the sweeper knows, and every
// target is probed one by one.
func newSystemNetwork() Network { return noNetwork{} }

type noNetwork struct{}

func (noNetwork) Attached(netip.Addr) (Link, bool) { return Link{}, false }

func (noNetwork) Open(Link, func(netip.Addr, net.HardwareAddr)) (Conn, error) {
	return nil, errors.New("ARP sweep: not implemented on this platform")
}

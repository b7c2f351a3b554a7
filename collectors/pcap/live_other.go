//go:build !linux

package pcap

import (
	"errors"
	"fmt"

	"github.com/google/gopacket"
	"golang.org/x/net/bpf"
)

// Live capture uses AF_PACKET sockets, which only Linux has.

var errSocketClosed = errors.New("capture socket closed")

type packetSocket struct{}

func openPacketSocket(iface string, _ []bpf.RawInstruction, _ bool) (*packetSocket, error) {
	return nil, fmt.Errorf("live capture on %s: only supported on Linux", iface)
}

func (s *packetSocket) read() ([]byte, gopacket.CaptureInfo, error) {
	return nil, gopacket.CaptureInfo{}, errSocketClosed
}
func (s *packetSocket) stats() (received, dropped int64) { return 0, 0 }
func (s *packetSocket) close() error                     { return nil }

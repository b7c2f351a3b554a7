//go:build !(linux && cgo && afpacket)

package pcap

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// afpacketBuilt says this build has the afpacket backend.
const afpacketBuilt = false

// openAFPacket is never reached (CheckBackend refuses the backend first).
func openAFPacket(iface string, _ []bpf.RawInstruction, _ bool) (frameReader, error) {
	return nil, fmt.Errorf("live capture on %s: %w", iface, errNoAFPacket)
}

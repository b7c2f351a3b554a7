// Package discovery parses the protocols a device uses to announce itself
// on the local network: LLDP, Cisco CDP, PROFINET DCP and DHCP.
//
// Every function is pure: bytes in, a typed result out, no I/O, no
// allocation beyond the result, every length checked against the buffer.
// Turning the results into observations (and deciding which IP an
// announcement belongs to) is the caller's job, in collectors/pcap; nothing
// here knows about flows, hosts or the root vocabulary.
package discovery

import "errors"

// ErrMalformed is wrapped by every parse error: the bytes are not a
// well-formed message of the protocol.
var ErrMalformed = errors.New("malformed")

// maxText bounds every string taken from the wire.
const maxText = 256

// text keeps the printable ASCII of b (at most maxText bytes), so that odd
// bytes cannot corrupt logs or exports, and trims blanks at both ends.
func text(b []byte) string {
	out := make([]byte, 0, min(len(b), maxText))
	for _, c := range b {
		if len(out) >= maxText {
			break
		}
		switch {
		case c >= 0x20 && c < 0x7f:
			out = append(out, c)
		case c == '\n' || c == '\t':
			out = append(out, ' ')
		}
	}
	// Trim spaces and NUL padding.
	i, j := 0, len(out)
	for i < j && out[i] == ' ' {
		i++
	}
	for j > i && out[j-1] == ' ' {
		j--
	}
	return string(out[i:j])
}

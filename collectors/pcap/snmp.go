package pcap

import (
	"errors"
	"strings"

	"github.com/gosnmp/gosnmp"
	"github.com/otaudit/otaudit"
)

// SNMP: v1/v2c community strings (a credential in clear) are decoded with
// gosnmp; for v3 only the header is read here (msgFlags decide whether the
// messages are authenticated and encrypted).

const (
	snmpV1  = 0
	snmpV2c = 1
	snmpV3  = 3

	snmpFlagAuth = 0x01
	snmpFlagPriv = 0x02
)

var errBER = errors.New("snmp: malformed BER")

// berHeader reads a tag and definite length at the start of b and returns
// the tag, the content and what follows it.
func berHeader(b []byte) (tag byte, content, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, errBER
	}
	tag = b[0]
	n := int(b[1])
	p := 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return 0, nil, nil, errBER
		}
		n = 0
		for _, c := range b[2 : 2+k] {
			n = n<<8 | int(c)
		}
		p += k
	}
	if len(b)-p < n {
		return 0, nil, nil, errBER
	}
	return tag, b[p : p+n], b[p+n:], nil
}

func berInt(b []byte) (int, []byte, error) {
	tag, c, rest, err := berHeader(b)
	if err != nil || tag != 0x02 || len(c) == 0 || len(c) > 4 {
		return 0, nil, errBER
	}
	v := 0
	for _, x := range c {
		v = v<<8 | int(x)
	}
	return v, rest, nil
}

// snmpHeader returns the message version and, for v3, msgFlags.
func snmpHeader(b []byte) (version int, flags byte, err error) {
	tag, msg, _, err := berHeader(b)
	if err != nil || tag != 0x30 {
		return 0, 0, errBER
	}
	version, rest, err := berInt(msg)
	if err != nil {
		return 0, 0, err
	}
	if version != snmpV3 {
		return version, 0, nil
	}
	tag, global, _, err := berHeader(rest)
	if err != nil || tag != 0x30 {
		return 0, 0, errBER
	}
	_, global, err = berInt(global) // msgID
	if err != nil {
		return 0, 0, err
	}
	_, global, err = berInt(global) // msgMaxSize
	if err != nil {
		return 0, 0, err
	}
	tag, fl, _, err := berHeader(global)
	if err != nil || tag != 0x04 || len(fl) != 1 {
		return 0, 0, errBER
	}
	return version, fl[0], nil
}

// snmpDecoded is one v1/v2c message as gosnmp decoded it; snmpMessage
// fills it so the PDU accounting (snmp_ops.go) does not decode again.
type snmpDecoded struct {
	version int // -1 when the header was not readable
	// fast is set when parseSNMPFast read the message (pkt is then nil).
	fast    bool
	fastMsg snmpFast
	pkt     *gosnmp.SnmpPacket
	err     error
}

// snmpMessage accounts the community (as a credential) and the channel of
// one message; for v1/v2c it leaves gosnmp's decoding in m.
func snmpMessage(a *analysis, c *conn, b []byte, f *frameInfo, m *snmpDecoded) {
	m.version = -1
	version, flags, err := snmpHeader(b)
	if err != nil {
		a.decodeError(f.index, "snmp: not a BER-encoded SNMP message")
		return
	}
	m.version = version
	ch := otaudit.SecureChannel{Protocol: "snmp", Client: c.cli, Server: c.srv}
	switch version {
	case snmpV1, snmpV2c:
		if m.fastMsg, m.fast = parseSNMPFast(b); m.fast {
			ch.Policy = "v1"
			if version == snmpV2c {
				ch.Policy = "v2c"
			}
			// The community is judged where it lies in the datagram; the
			// frame buffer is the reader's, reused for the next packet.
			a.credential("snmp", c.cli, c.srv, "", m.fastMsg.community, "", ch.Policy, f)
			break
		}
		pkt, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(b)
		m.pkt, m.err = pkt, err
		// A body gosnmp cannot read still leaves the community in clear on
		// the wire: keep the credential, count the decode error.
		if err != nil && (pkt == nil || !strings.HasPrefix(err.Error(), "unable to decode packet body")) {
			a.decodeError(f.index, "snmp: unreadable v1/v2c header")
			return
		}
		if err != nil {
			// gosnmp rejects some valid PDUs (e.g. v1 traps with NULL
			// values); the community in the header is what matters here.
			a.log.Debug("snmp: gosnmp could not decode the PDU", "packet", f.index, "err", err)
		}
		ch.Policy = "v1"
		if version == snmpV2c {
			ch.Policy = "v2c"
		}
		secret := []byte(pkt.Community)
		a.credential("snmp", c.cli, c.srv, "", secret, "", ch.Policy, f)
		clear(secret)
	case snmpV3:
		switch {
		case flags&snmpFlagPriv != 0:
			ch.Policy, ch.Protected = "v3 authPriv", true
		case flags&snmpFlagAuth != 0:
			ch.Policy = "v3 authNoPriv"
		default:
			ch.Policy = "v3 noAuthNoPriv"
		}
	default:
		a.decodeError(f.index, "snmp: unknown version")
		return
	}
	a.secureChannel(ch, f)
}

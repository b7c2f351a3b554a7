package bacnet

import (
	"encoding/binary"
	"net"
	"sync"
	"testing"

	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

// fakeDevice is a BACnet/IP device on 127.0.0.1:0 that answers a unicast
// Who-Is with an I-Am and ReadProperty of its Device object from a table,
// and misbehaves as its fields say. It decodes what it receives with the
// passive parser and its own body decoder, sharing nothing with the
// prober's encoder or guard, and hands every datagram to the test.
type fakeDevice struct {
	conn     *net.UDPConn
	instance uint32
	vendor   uint32
	// props are the UTF-8 character strings it serves; a property not in
	// props nor raw gets Error property/unknown-property.
	props map[uint16]string
	// raw replaces the whole answer datagram to a ReadProperty of the
	// property (invoke ID patched in at offset 7 when patchInvoke).
	raw map[uint16][]byte

	silent bool // never answers
	// garbage answers every datagram with bytes that are not BACnet/IP.
	garbage bool
	// rejectAll answers every ReadProperty with Reject.
	rejectAll bool
	// wrongInvokeFirst answers every ReadProperty first with an
	// acknowledgement under another invoke ID ("WRONG"), then correctly;
	// wrongInvokeOnly never answers under the right one.
	wrongInvokeFirst, wrongInvokeOnly bool
	// iAmToPort sends the I-Am to this port of 127.0.0.1 instead of to
	// the asker's port, as devices that broadcast their I-Am to the
	// BACnet port do.
	iAmToPort int

	got chan []byte
	wg  sync.WaitGroup
}

func startFake(t *testing.T, d *fakeDevice) *fakeDevice {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	d.conn, d.got = conn, make(chan []byte, 256)
	d.wg.Add(1)
	go d.serve(t)
	t.Cleanup(func() {
		conn.Close()
		d.wg.Wait()
	})
	return d
}

func (d *fakeDevice) port() uint16 { return uint16(d.conn.LocalAddr().(*net.UDPAddr).Port) }

func (d *fakeDevice) serve(t *testing.T) {
	defer d.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, from, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			return // closed by the cleanup
		}
		b := append([]byte(nil), buf[:n]...)
		for _, answer := range d.answer(b) {
			to := from
			if m, err := bacnet.Parse(answer); d.iAmToPort != 0 && err == nil && m.APDU != nil &&
				m.APDU.Type == bacnet.UnconfirmedRequest && m.APDU.Service == bacnet.ServiceIAm {
				to = &net.UDPAddr{IP: from.IP, Port: d.iAmToPort}
			}
			if _, err := d.conn.WriteToUDP(answer, to); err != nil {
				t.Errorf("fake device: write: %v", err)
			}
		}
		// Recorded after answering: when the test has read as many
		// datagrams as the ledger has entries, every answer is out.
		d.got <- b
	}
}

// received returns the n datagrams the fake got (the ledger's count).
func (d *fakeDevice) received(t *testing.T, n int) [][]byte {
	t.Helper()
	out := make([][]byte, 0, n)
	for range n {
		out = append(out, <-d.got)
	}
	select {
	case b := <-d.got:
		t.Errorf("the device received more datagrams than the ledger holds: % x", b)
	default:
	}
	return out
}

func (d *fakeDevice) answer(b []byte) [][]byte {
	if d.silent {
		return nil
	}
	if d.garbage {
		return [][]byte{[]byte("\x00\x01garbage\xff"), {0x81}, {0x81, 0x0a, 0x00, 0x02}}
	}
	m, err := bacnet.Parse(b)
	if err != nil || m.APDU == nil {
		return nil
	}
	a := m.APDU
	switch {
	case a.Type == bacnet.UnconfirmedRequest && a.Service == bacnet.ServiceWhoIs:
		return [][]byte{d.iAm()}
	case a.Type == bacnet.ConfirmedRequest && a.Service == bacnet.ServiceReadProperty && len(a.Body) >= 7:
		object := binary.BigEndian.Uint32(a.Body[1:5])
		var prop uint16
		if a.Body[5] == 0x19 {
			prop = uint16(a.Body[6])
		} else if len(a.Body) >= 8 {
			prop = binary.BigEndian.Uint16(a.Body[6:8])
		}
		return d.readProperty(a.InvokeID, object, prop)
	}
	return nil
}

func (d *fakeDevice) iAm() []byte {
	b := []byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x10, 0x00, 0xc4}
	b = binary.BigEndian.AppendUint32(b, 8<<22|d.instance)
	b = append(b, 0x22, 0x05, 0xc4, 0x91, 0x03, 0x22)
	b = binary.BigEndian.AppendUint16(b, uint16(d.vendor))
	return withLength(b)
}

func (d *fakeDevice) readProperty(invoke byte, object uint32, prop uint16) [][]byte {
	switch {
	case d.rejectAll:
		return [][]byte{withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x60, invoke, 0x09})}
	case d.wrongInvokeOnly:
		return [][]byte{d.ack(invoke+100, object, prop, "WRONG")}
	}
	var out [][]byte
	if d.wrongInvokeFirst {
		out = append(out, d.ack(invoke+100, object, prop, "WRONG"))
	}
	if raw, ok := d.raw[prop]; ok {
		raw = append([]byte(nil), raw...)
		if len(raw) > 7 {
			raw[7] = invoke
		}
		return append(out, raw)
	}
	if v, ok := d.props[prop]; ok && object == 8<<22|d.instance {
		return append(out, d.ack(invoke, object, prop, v))
	}
	// Error, class property, code unknown-property.
	return append(out, withLength([]byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x50, invoke, 0x0c, 0x91, 0x02, 0x91, 0x20}))
}

func (d *fakeDevice) ack(invoke byte, object uint32, prop uint16, v string) []byte {
	b := []byte{0x81, 0x0a, 0, 0, 0x01, 0x00, 0x30, invoke, 0x0c, 0x0c}
	b = binary.BigEndian.AppendUint32(b, object)
	if prop <= 0xff {
		b = append(b, 0x19, byte(prop))
	} else {
		b = append(b, 0x1a, byte(prop>>8), byte(prop))
	}
	b = append(b, 0x3e)
	b = append(b, charStringElement(0, []byte(v))...)
	return withLength(append(b, 0x3f))
}

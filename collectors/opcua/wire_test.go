package opcua

import (
	"encoding/binary"
	"errors"
	"testing"
)

func TestInspectClientChunk(t *testing.T) {
	opnNone := func() []byte {
		policy := "http://opcfoundation.org/UA/SecurityPolicy#None"
		b := binary.LittleEndian.AppendUint32(nil, 0) // channel id
		b = binary.LittleEndian.AppendUint32(b, uint32(len(policy)))
		b = append(b, policy...)
		b = binary.LittleEndian.AppendUint32(b, 0xffffffff) // no certificate
		b = binary.LittleEndian.AppendUint32(b, 0xffffffff) // no thumbprint
		b = binary.LittleEndian.AppendUint32(b, 1)          // sequence
		b = binary.LittleEndian.AppendUint32(b, 1)          // request id
		b = append(b, 0x01, 0x00, 0xbe, 0x01)               // i=446
		return chunk("OPNF", b)
	}
	cases := []struct {
		name     string
		chunk    []byte
		readable bool
		kind     string
		bad      bool
	}{
		{"hello", helloChunk(), true, kindHello, false},
		{"open none", opnNone(), true, kindOpenSecureChannel, false},
		{"read", serviceChunk(631), true, kindRead, false},
		{"write", serviceChunk(673), true, "", false},
		{"opaque msg", serviceChunk(673), false, "", false},
		{"two-byte type id", chunk("MSGF", append(make([]byte, 16), 0x00, 0x10)), true, "", false},
		{"string type id", chunk("MSGF", append(make([]byte, 16), 0x03, 0, 0)), true, "", true},
		{"type id in ns 1", chunk("MSGF", append(make([]byte, 16), 0x01, 0x01, 0x77, 0x02)), true, "", true},
		{"truncated", chunk("MSGF", make([]byte, 10)), true, "", true},
		{"reverse hello", chunk("RHEF", nil), true, "", true},
		{"bad chunk type", chunk("MSGX", make([]byte, 20)), true, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := inspectClientChunk(c.chunk, c.readable)
			if c.bad {
				if !errors.Is(err, errMalformed) {
					t.Errorf("err = %v, want errMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if m.kind != c.kind {
				t.Errorf("kind = %q, want %q", m.kind, c.kind)
			}
		})
	}
}

// FuzzInspectClientChunk: whatever the bytes, classification does not
// panic, and anything it calls a MSG service is on the read-only table.
func FuzzInspectClientChunk(f *testing.F) {
	f.Add(helloChunk(), true)
	f.Add(serviceChunk(631), true)
	f.Add(serviceChunk(673), true)
	f.Add(serviceChunk(712), false)
	f.Add(chunk("OPNF", []byte{0, 0, 0, 0, 4, 0, 0, 0, 'a', 'b'}), true)
	f.Add(chunk("CLOF", make([]byte, 24)), true)
	f.Fuzz(func(t *testing.T, b []byte, readable bool) {
		m, err := inspectClientChunk(b, readable)
		if err != nil {
			return
		}
		if m.msgType == "MSG" && m.kind != "" {
			if !readable {
				t.Fatalf("a kind was read from an opaque chunk")
			}
			if readOnlyServices[m.typeID] != m.kind {
				t.Fatalf("kind %q for type id %d", m.kind, m.typeID)
			}
		}
	})
}

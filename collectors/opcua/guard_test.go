package opcua

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/gopcua/opcua/ua"
	"github.com/otaudit/otaudit/collectors/active"
)

// recordingGate is a request gate that lets every allowed kind through and
// records what it was asked, like active.Session without the pacing.
type recordingGate struct {
	mu    sync.Mutex
	kinds []string
}

func (g *recordingGate) Do(ctx context.Context, protocol, kind, detail string, send func(context.Context) error) error {
	if !active.Allowed[protocol][kind] {
		return active.ErrNotAllowed
	}
	g.mu.Lock()
	g.kinds = append(g.kinds, kind)
	g.mu.Unlock()
	return send(ctx)
}

func (g *recordingGate) seen() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.kinds...)
}

// chunk frames body as a UA-TCP chunk of type typ ("HELF", "MSGF", …).
func chunk(typ string, body []byte) []byte {
	b := make([]byte, 8, 8+len(body))
	copy(b, typ)
	binary.LittleEndian.PutUint32(b[4:], uint32(8+len(body)))
	return append(b, body...)
}

// helloChunk is a Hello for opc.tcp://127.0.0.1:4840, encoded by hand.
func helloChunk() []byte {
	body := binary.LittleEndian.AppendUint32(nil, 0)     // protocol version
	body = binary.LittleEndian.AppendUint32(body, 65535) // receive buffer
	body = binary.LittleEndian.AppendUint32(body, 65535) // send buffer
	body = binary.LittleEndian.AppendUint32(body, 0)     // max message
	body = binary.LittleEndian.AppendUint32(body, 0)     // max chunks
	url := "opc.tcp://127.0.0.1:4840"
	body = binary.LittleEndian.AppendUint32(body, uint32(len(url)))
	return chunk("HELF", append(body, url...))
}

// serviceChunk is a MSG chunk on a None channel carrying a request whose
// encoding id is typeID (four-byte NodeId), followed by filler standing
// in for the request header and parameters.
func serviceChunk(typeID uint16) []byte {
	body := binary.LittleEndian.AppendUint32(nil, 7)  // secure channel id
	body = binary.LittleEndian.AppendUint32(body, 1)  // token id
	body = binary.LittleEndian.AppendUint32(body, 51) // sequence number
	body = binary.LittleEndian.AppendUint32(body, 9)  // request id
	body = append(body, 0x01, 0x00)                   // four-byte NodeId, ns 0
	body = binary.LittleEndian.AppendUint16(body, typeID)
	body = append(body, bytes.Repeat([]byte{0xAB}, 40)...)
	return chunk("MSGF", body)
}

// guardRig is a guard between two in-memory pipes; device collects what
// reached the "device".
type guardRig struct {
	g      *guard
	gate   *recordingGate
	client net.Conn
	device chan []byte
}

func newGuardRig(t *testing.T, sec channelSecurity) *guardRig {
	t.Helper()
	clientEnd, guardClient := net.Pipe()
	guardServer, deviceEnd := net.Pipe()
	r := &guardRig{gate: &recordingGate{}, client: clientEnd, device: make(chan []byte, 1)}
	go func() {
		b, _ := io.ReadAll(deviceEnd)
		r.device <- b
	}()
	r.g = newGuard(context.Background(), r.gate, sec, netip.MustParseAddrPort("192.0.2.10:4840"), "test",
		guardClient, guardServer, slog.New(slog.DiscardHandler))
	t.Cleanup(func() { clientEnd.Close(); r.g.close(0) })
	return r
}

// send writes chunks as the client; the write of a refused chunk may fail
// once the guard has closed the pipe.
func (r *guardRig) send(chunks ...[]byte) {
	for _, c := range chunks {
		if _, err := r.client.Write(c); err != nil {
			return
		}
	}
}

// finish closes the client and returns everything the device received.
func (r *guardRig) finish() []byte {
	r.client.Close()
	<-r.g.done
	return <-r.device
}

var noneChannel = channelSecurity{Policy: ua.SecurityPolicyURINone, Mode: ua.MessageSecurityModeNone}

// TestGuardRefusesWriteRequest: a hand-encoded WriteRequest (i=673) on a
// None channel is refused with active.ErrNotAllowed, the connection is
// closed, and not one byte of it reaches the device.
func TestGuardRefusesWriteRequest(t *testing.T) {
	r := newGuardRig(t, noneChannel)
	hello, write := helloChunk(), serviceChunk(673)
	r.send(hello, write)
	got := r.finish()

	if !bytes.Equal(got, hello) {
		t.Errorf("device received %d bytes, want exactly the %d-byte Hello", len(got), len(hello))
	}
	err := r.g.refused()
	if !errors.Is(err, active.ErrNotAllowed) {
		t.Fatalf("refusal = %v, want active.ErrNotAllowed", err)
	}
	var re *RefusedError
	if !errors.As(err, &re) || re.Service == "" || !bytes.Contains([]byte(re.Service), []byte("673")) {
		t.Errorf("refusal %v does not name the Write service", err)
	}
	if kinds := r.gate.seen(); len(kinds) != 1 || kinds[0] != kindHello {
		t.Errorf("gate saw %v, want only the hello", kinds)
	}
}

// TestGuardServiceTable: each service on the None channel is forwarded
// (read-only ones, under their kind) or refused (everything that changes
// the server), and a refused one never reaches the device.
func TestGuardServiceTable(t *testing.T) {
	cases := []struct {
		name    string
		typeID  uint16
		forward string // the kind, "" when refused
	}{
		{"GetEndpoints", 428, kindGetEndpoints},
		{"FindServers", 422, kindFindServers},
		{"CreateSession", 461, kindCreateSession},
		{"ActivateSession", 467, kindActivateSession},
		{"CloseSession", 473, kindCloseSession},
		{"Read", 631, kindRead},
		{"Browse", 527, kindBrowse},
		{"BrowseNext", 533, kindBrowseNext},
		{"Write", 673, ""},
		{"Call", 712, ""},
		{"AddNodes", 488, ""},
		{"DeleteNodes", 500, ""},
		{"AddReferences", 494, ""},
		{"HistoryUpdate", 700, ""},
		{"CreateSubscription", 787, ""},
		{"RegisterNodes", 560, ""},
		{"Cancel", 479, ""},
		// Read-only but not on active.Allowed: the session refuses it.
		{"TranslateBrowsePaths", 554, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newGuardRig(t, noneChannel)
			hello, msg := helloChunk(), serviceChunk(c.typeID)
			r.send(hello, msg)
			got := r.finish()
			if c.forward == "" {
				if !bytes.Equal(got, hello) {
					t.Errorf("refused service: device received %d bytes beyond the Hello", len(got)-len(hello))
				}
				if !errors.Is(r.g.refused(), active.ErrNotAllowed) {
					t.Errorf("refusal = %v, want active.ErrNotAllowed", r.g.refused())
				}
				return
			}
			if !bytes.Equal(got, append(hello, msg...)) {
				t.Errorf("allowed service: device received %d bytes, want %d", len(got), len(hello)+len(msg))
			}
			if kinds := r.gate.seen(); len(kinds) != 2 || kinds[1] != c.forward {
				t.Errorf("gate saw %v, want hello then %s", kinds, c.forward)
			}
			if err := r.g.refused(); err != nil {
				t.Errorf("unexpected refusal: %v", err)
			}
		})
	}
}

// TestGuardEncryptedChannel: on a SignAndEncrypt channel the guard cannot
// read the service, so it forwards only what the client wrapper
// announced, under that kind, and refuses an unannounced message.
func TestGuardEncryptedChannel(t *testing.T) {
	sec := channelSecurity{Policy: ua.SecurityPolicyURIBasic256Sha256, Mode: ua.MessageSecurityModeSignAndEncrypt}

	r := newGuardRig(t, sec)
	opaque := serviceChunk(673) // what it "is" cannot be seen; the announcement decides
	r.g.announce(kindRead, "")
	r.send(helloChunk(), opaque)
	r.finish()
	if kinds := r.gate.seen(); len(kinds) != 2 || kinds[1] != kindRead {
		t.Errorf("announced message: gate saw %v, want hello then read", kinds)
	}

	r = newGuardRig(t, sec)
	hello := helloChunk()
	r.send(hello, serviceChunk(631))
	if got := r.finish(); !bytes.Equal(got, hello) {
		t.Errorf("unannounced message reached the device")
	}
	if !errors.Is(r.g.refused(), active.ErrNotAllowed) {
		t.Errorf("unannounced message: refusal = %v", r.g.refused())
	}
}

// TestGuardAnnouncementMismatch: on a readable channel the request must be
// the one the client announced.
func TestGuardAnnouncementMismatch(t *testing.T) {
	r := newGuardRig(t, noneChannel)
	hello := helloChunk()
	r.g.announce(kindRead, "")
	r.send(hello, serviceChunk(527)) // a Browse where a Read was announced
	if got := r.finish(); !bytes.Equal(got, hello) {
		t.Errorf("mismatched message reached the device")
	}
	if !errors.Is(r.g.refused(), active.ErrNotAllowed) {
		t.Errorf("refusal = %v", r.g.refused())
	}
}

// TestGuardRequiresHelloFirst: a MSG before the Hello is not a client
// talking UA-TCP; nothing goes.
func TestGuardRequiresHelloFirst(t *testing.T) {
	r := newGuardRig(t, noneChannel)
	r.send(serviceChunk(631))
	if got := r.finish(); len(got) != 0 {
		t.Errorf("device received %d bytes", len(got))
	}
	if !errors.Is(r.g.refused(), active.ErrNotAllowed) {
		t.Errorf("refusal = %v", r.g.refused())
	}
}

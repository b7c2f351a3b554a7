package opcua

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/gopcua/opcua/ua"
	"github.com/otaudit/otaudit/collectors/active"
)

// requestGate is what the guard asks before a message leaves for the
// device: *active.Session is one. Do refuses kinds that are not allowed
// (active.ErrNotAllowed) and paces and records what it lets through.
type requestGate interface {
	Do(ctx context.Context, protocol, kind, detail string, send func(ctx context.Context) error) error
}

// RefusedError is the guard's refusal of a message the agent's own client
// tried to send: a service that is not read-only, a message it could not
// read on a channel where it should have, or a mismatch between what the
// client announced and what it sent. The connection is closed and nothing
// of the message reaches the device. It wraps active.ErrNotAllowed.
type RefusedError struct {
	Target netip.AddrPort
	// Service names the request when the guard could read it.
	Service string
	Reason  string
}

func (e *RefusedError) Error() string {
	s := fmt.Sprintf("opcua %s: guard refused", e.Target)
	if e.Service != "" {
		s += " " + e.Service
	}
	return s + ": " + e.Reason + ": " + active.ErrNotAllowed.Error()
}

func (e *RefusedError) Unwrap() error { return active.ErrNotAllowed }

// channelSecurity is the security a channel was opened with. The guard
// needs it to know whether it can read message bodies.
type channelSecurity struct {
	Policy string
	Mode   ua.MessageSecurityMode
}

// readable: MSG bodies are in clear with SecurityMode None and Sign (signed,
// not encrypted); SignAndEncrypt hides them.
func (s channelSecurity) readable() bool {
	return s.Mode == ua.MessageSecurityModeNone || s.Mode == ua.MessageSecurityModeSign
}

func (s channelSecurity) String() string {
	return policyName(s.Policy) + "/" + modeName(s.Mode)
}

// announcement is the request the client is about to send, so that the
// guard can check a readable message against it and name an unreadable one.
type announcement struct{ kind, detail string }

// guard is the read-only enforcement point for one OPC UA connection: a
// proxy between the agent's own client (on loopback) and the device that
// forwards a client message only after inspecting it and passing it
// through the request gate. Server-to-client bytes are copied unchanged;
// the client bounds what it reads.
type guard struct {
	gate   requestGate
	sec    channelSecurity
	target netip.AddrPort
	// detail describes the connection's purpose in the ledger.
	detail string
	log    *slog.Logger

	client net.Conn // the agent's own client, accepted on loopback
	server net.Conn // the device

	mu      sync.Mutex
	next    *announcement
	refusal error
	failure error
	// sentKinds counts the messages forwarded, per kind.
	sentKinds map[string]int

	done chan struct{}
	wg   sync.WaitGroup
}

// newGuard starts proxying between client and server until either side
// closes, ctx ends or the guard refuses a message.
func newGuard(ctx context.Context, gate requestGate, sec channelSecurity, target netip.AddrPort, detail string, client, server net.Conn, log *slog.Logger) *guard {
	g := &guard{
		gate: gate, sec: sec, target: target, detail: detail, log: log,
		client: client, server: server,
		sentKinds: map[string]int{},
		done:      make(chan struct{}),
	}
	stop := context.AfterFunc(ctx, g.closeBoth)
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		g.clientToServer(ctx)
	}()
	go func() {
		defer g.wg.Done()
		// Errors here are the device's or the teardown's; the client sees
		// them as a closed connection and reports them.
		_, _ = io.Copy(client, server)
		g.closeBoth()
	}()
	go func() {
		g.wg.Wait()
		stop()
		close(g.done)
	}()
	return g
}

// announce tells the guard which request the client sends next. It
// replaces an announcement that was never used (a request that failed
// before it was written).
func (g *guard) announce(kind, detail string) {
	g.mu.Lock()
	g.next = &announcement{kind, detail}
	g.mu.Unlock()
}

func (g *guard) takeAnnouncement() *announcement {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.next
	g.next = nil
	return a
}

// refused is the guard's refusal, if it refused a message.
func (g *guard) refused() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refusal
}

// forwardError is the first error forwarding a message to the device, if
// any (for instance a context that ended while waiting for the rate).
func (g *guard) forwardError() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.failure
}

// sent is how many messages of kind the guard forwarded.
func (g *guard) sent(kind string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sentKinds[kind]
}

// close tears the proxy down and waits for its goroutines. The client has
// closed its end first, so the guard gets to forward what the client wrote
// last (a CloseSecureChannel) before it sees the end of the stream; grace
// bounds how long that may take.
func (g *guard) close(grace time.Duration) {
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-g.done:
	case <-t.C:
	}
	g.closeBoth()
	<-g.done
}

func (g *guard) closeBoth() {
	_ = g.client.Close()
	_ = g.server.Close()
}

func (g *guard) refuse(err *RefusedError) {
	g.mu.Lock()
	if g.refusal == nil {
		g.refusal = err
	}
	g.mu.Unlock()
	g.log.Error("guard refused a message from the client: nothing of it was sent", "error", err)
	g.closeBoth()
}

// clientToServer is the enforcement loop: one chunk at a time, the first
// chunk of each message is classified and goes through the gate; the
// intermediate chunks of a message the gate let through follow it.
func (g *guard) clientToServer(ctx context.Context) {
	defer g.closeBoth()
	buf := make([]byte, maxClientChunk)
	var (
		helloSeen   bool
		inMessage   bool // an intermediate chunk was forwarded, the final one is due
		msgRequest  uint32
		chunksInMsg int
	)
	for {
		chunk, err := readChunk(g.client, buf)
		if err != nil {
			if errors.Is(err, errMalformed) {
				g.refuse(&RefusedError{Target: g.target, Reason: err.Error()})
			}
			return
		}
		m, err := inspectClientChunk(chunk, g.sec.readable())
		if err != nil {
			g.refuse(&RefusedError{Target: g.target, Reason: err.Error()})
			return
		}
		if !helloSeen && m.msgType != "HEL" || helloSeen && m.msgType == "HEL" {
			g.refuse(&RefusedError{Target: g.target, Reason: fmt.Sprintf("%s out of order: the connection starts with exactly one Hello", m.msgType)})
			return
		}
		helloSeen = true

		if inMessage {
			// The rest of a message the gate already let through.
			if m.msgType != "MSG" || g.sec.readable() && m.requestID != msgRequest || chunksInMsg >= maxChunksPerMessage {
				g.refuse(&RefusedError{Target: g.target, Reason: "interleaved or overlong multi-chunk message"})
				return
			}
			if err := g.write(chunk); err != nil {
				return
			}
			chunksInMsg++
			inMessage = m.chunkType == 'C'
			continue
		}
		if m.msgType == "MSG" && m.chunkType == 'A' {
			// An abort with nothing before it has nothing to abort.
			g.refuse(&RefusedError{Target: g.target, Reason: "abort chunk outside a message"})
			return
		}

		kind, detail, rerr := g.resolve(m)
		if rerr != nil {
			g.refuse(rerr)
			return
		}
		err = g.gate.Do(ctx, "opcua", kind, detail, func(ctx context.Context) error {
			if dl, ok := ctx.Deadline(); ok {
				_ = g.server.SetWriteDeadline(dl)
				defer func() { _ = g.server.SetWriteDeadline(time.Time{}) }()
			}
			_, err := g.server.Write(chunk)
			return err
		})
		if err != nil {
			if errors.Is(err, active.ErrNotAllowed) || errors.Is(err, active.ErrOverPlan) {
				g.refuse(&RefusedError{Target: g.target, Service: kind, Reason: err.Error()})
			} else {
				g.mu.Lock()
				if g.failure == nil {
					g.failure = err
				}
				g.mu.Unlock()
			}
			return
		}
		g.mu.Lock()
		g.sentKinds[kind]++
		g.mu.Unlock()
		inMessage = m.msgType == "MSG" && m.chunkType == 'C'
		msgRequest, chunksInMsg = m.requestID, 1
	}
}

func (g *guard) write(chunk []byte) error {
	_ = g.server.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := g.server.Write(chunk)
	_ = g.server.SetWriteDeadline(time.Time{})
	return err
}

// writeTimeout bounds forwarding the intermediate chunks of a message.
const writeTimeout = 10 * time.Second

// resolve decides the request kind and ledger detail of the first chunk of
// a message, or refuses it.
func (g *guard) resolve(m clientMessage) (kind, detail string, refusal *RefusedError) {
	detail = g.detail
	switch m.msgType {
	case "HEL", "OPN", "CLO":
		if m.msgType == "OPN" && m.policy != g.sec.Policy {
			return "", "", &RefusedError{Target: g.target, Service: "OpenSecureChannel",
				Reason: fmt.Sprintf("policy %s, the channel was set up for %s", m.policy, g.sec.Policy)}
		}
		return m.kind, detail, nil
	}
	a := g.takeAnnouncement()
	if a != nil && a.detail != "" {
		detail = a.detail
	}
	if !g.sec.readable() {
		// SignAndEncrypt: the body is opaque here. Only a request the
		// client wrapper announced goes, under the kind it announced; the
		// wrapper has methods for read-only services only.
		if a == nil {
			return "", "", &RefusedError{Target: g.target, Reason: "unannounced message on an encrypted channel"}
		}
		return a.kind, detail, nil
	}
	if m.kind == "" {
		return "", "", &RefusedError{Target: g.target, Service: serviceName(m.typeID), Reason: "not a read-only service"}
	}
	if a != nil && a.kind != m.kind {
		return "", "", &RefusedError{Target: g.target, Service: serviceName(m.typeID),
			Reason: fmt.Sprintf("the client announced %s", a.kind)}
	}
	return m.kind, detail, nil
}

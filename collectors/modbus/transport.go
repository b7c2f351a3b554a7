package modbus

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/goburrow/modbus"

	"github.com/otaudit/otaudit/collectors/active"
)

// Function codes this package may send, and nothing else.
const (
	fcReadHoldingRegisters = 0x03
	fcReportServerID       = 0x11
	fcEncapsulatedIface    = 0x2B
	meiReadDeviceID        = 0x0E
	exceptionBit           = 0x80
)

// client is what the collector needs from a Modbus/TCP library: raw PDUs
// exchanged with one unit over one connection. It keeps goburrow behind a
// seam the tests can reason about.
type client interface {
	// Connect opens the TCP connection.
	Connect(ctx context.Context) error
	// Exchange sends req to unit and returns the answer PDU, which may be
	// an exception (function code with bit 0x80).
	Exchange(ctx context.Context, unit byte, req modbus.ProtocolDataUnit) (modbus.ProtocolDataUnit, error)
	// Close drops the connection; the next Connect opens a fresh one.
	Close() error
}

// goburrowClient drives goburrow's exported TCPClientHandler pieces
// (Encode, Send, Verify, Decode) so that the collector can send the raw
// PDUs goburrow's Client has no method for (FC 43, FC 17) and check every
// encoded ADU right before it goes out.
type goburrowClient struct {
	addr    netip.AddrPort
	timeout time.Duration
	h       *modbus.TCPClientHandler
}

func newGoburrowClient(addr netip.AddrPort, timeout time.Duration) *goburrowClient {
	return &goburrowClient{addr: addr, timeout: timeout}
}

// errNotConnected: Exchange without Connect. goburrow would dial on its
// own inside Send; the collector dials explicitly so that every connection
// is a request the session sees.
var errNotConnected = errors.New("not connected")

// setTimeout bounds goburrow's dial and I/O deadline by the request
// context: goburrow takes a duration, not a context.
func (c *goburrowClient) setTimeout(ctx context.Context) {
	c.h.Timeout = c.timeout
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 && (c.h.Timeout <= 0 || d < c.h.Timeout) {
			c.h.Timeout = d
		}
	}
}

// Connect opens a fresh connection with a fresh handler: goburrow never
// recovers from a late reply (its issue #64), so a connection that saw an
// error is closed by the collector and never reused.
func (c *goburrowClient) Connect(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_ = c.Close()
	c.h = modbus.NewTCPClientHandler(c.addr.String())
	c.h.IdleTimeout = 0 // no background close timer: the collector closes
	c.setTimeout(ctx)
	if err := c.h.Connect(); err != nil {
		c.h = nil
		return err
	}
	return nil
}

func (c *goburrowClient) Exchange(ctx context.Context, unit byte, req modbus.ProtocolDataUnit) (modbus.ProtocolDataUnit, error) {
	if err := ctx.Err(); err != nil {
		return modbus.ProtocolDataUnit{}, err
	}
	if c.h == nil {
		return modbus.ProtocolDataUnit{}, errNotConnected
	}
	h := c.h
	c.setTimeout(ctx)
	h.SlaveId = unit
	adu, err := h.Encode(&req)
	if err != nil {
		return modbus.ProtocolDataUnit{}, fmt.Errorf("encode: %w", err)
	}
	if err := readOnlyADU(adu); err != nil {
		return modbus.ProtocolDataUnit{}, err
	}
	// goburrow's Send takes no context: a cancelled scan closes the
	// connection, which ends the blocked read.
	stop := context.AfterFunc(ctx, func() { _ = h.Close() })
	resp, err := h.Send(adu)
	if !stop() {
		c.h = nil // closed under us: the next request must reconnect
	}
	if err != nil {
		if isTransportError(err) {
			return modbus.ProtocolDataUnit{}, err
		}
		// goburrow's own complaints about the answer (zero or oversized
		// MBAP length) are the device's fault.
		return modbus.ProtocolDataUnit{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if len(resp) < 8 {
		return modbus.ProtocolDataUnit{}, fmt.Errorf("%w: ADU of %d bytes", errMalformed, len(resp))
	}
	if err := h.Verify(adu, resp); err != nil {
		return modbus.ProtocolDataUnit{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		return modbus.ProtocolDataUnit{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if pdu.FunctionCode&^exceptionBit != req.FunctionCode {
		return modbus.ProtocolDataUnit{}, fmt.Errorf("%w: answer has function code %d, request %d", errMalformed, pdu.FunctionCode, req.FunctionCode)
	}
	// Decode aliases goburrow's receive buffer; keep our own copy.
	return modbus.ProtocolDataUnit{FunctionCode: pdu.FunctionCode, Data: append([]byte(nil), pdu.Data...)}, nil
}

func (c *goburrowClient) Close() error {
	if c.h == nil {
		return nil
	}
	err := c.h.Close()
	c.h = nil
	return err
}

// readOnlyADU is the wire-level allow-list: the encoded Modbus/TCP ADU may
// only be FC 43 with MEI 14 (Read Device Identification), FC 17 (Report
// Server ID) or FC 3 reading exactly one register. Anything else returns
// active.ErrNotAllowed and is not sent.
func readOnlyADU(adu []byte) error {
	if len(adu) < 8 {
		return fmt.Errorf("modbus ADU of %d bytes: %w", len(adu), active.ErrNotAllowed)
	}
	pdu := adu[7:]
	switch fc := pdu[0]; {
	case fc == fcEncapsulatedIface && len(pdu) == 4 && pdu[1] == meiReadDeviceID:
		return nil
	case fc == fcReportServerID && len(pdu) == 1:
		return nil
	case fc == fcReadHoldingRegisters && len(pdu) == 5 && binary.BigEndian.Uint16(pdu[3:]) == 1:
		return nil
	default:
		return fmt.Errorf("modbus function code %d (%d bytes): %w", fc, len(pdu), active.ErrNotAllowed)
	}
}

// isTransportError tells network failures (timeouts, resets, refused,
// closed) from goburrow's complaints about what was received.
func isTransportError(err error) bool {
	var ne net.Error
	var errno syscall.Errno
	return errors.As(err, &ne) || errors.As(err, &errno) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

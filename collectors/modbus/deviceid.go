package modbus

import (
	"errors"
	"fmt"

	"github.com/otaudit/otaudit/collectors/active"
)

// errMalformed marks an answer that does not parse: a hostile or broken
// device. It is evidence, reported with the device's error, never a panic.
var errMalformed = errors.New("malformed response")

// Object IDs of the basic and regular Device Identification categories.
const (
	objVendorName          = 0x00
	objProductCode         = 0x01
	objMajorMinorRevision  = 0x02
	objVendorURL           = 0x03
	objProductName         = 0x04
	objModelName           = 0x05
	objUserApplicationName = 0x06
)

// Read Device ID codes (FC 43 / MEI 14).
const (
	readCodeBasic   = 0x01
	readCodeRegular = 0x02
)

// deviceObject is one identification object, its value rendered printable.
type deviceObject struct {
	ID    byte
	Value string
}

// deviceIDResponse is one decoded FC 43 / MEI 14 response.
type deviceIDResponse struct {
	ReadCode     byte
	Conformity   byte
	MoreFollows  bool
	NextObjectID byte
	Objects      []deviceObject
}

// supportsRegular reports whether the conformity level includes the regular
// category (levels 02/03, with or without individual access 0x80).
func (r deviceIDResponse) supportsRegular() bool { return r.Conformity&0x7F >= 0x02 }

// decodeDeviceID decodes the data of a FC 43 / MEI 14 response (the PDU
// after the function code). A device may lie about lengths and object
// counts: objects read before the lie are returned with an errMalformed
// error, and nothing is ever read outside data.
func decodeDeviceID(data []byte) (deviceIDResponse, error) {
	var r deviceIDResponse
	if len(data) < 6 {
		return r, fmt.Errorf("%w: read device identification: %d bytes, header needs 6", errMalformed, len(data))
	}
	if data[0] != meiReadDeviceID {
		return r, fmt.Errorf("%w: read device identification: MEI type 0x%02x, want 0x0e", errMalformed, data[0])
	}
	r.ReadCode, r.Conformity, r.NextObjectID = data[1], data[2], data[4]
	switch data[3] {
	case 0x00:
	case 0xFF:
		r.MoreFollows = true
	default:
		return r, fmt.Errorf("%w: read device identification: more-follows 0x%02x is neither 0x00 nor 0xff", errMalformed, data[3])
	}
	n := int(data[5])
	p := data[6:]
	for i := 0; i < n; i++ {
		if len(p) < 2 {
			return r, fmt.Errorf("%w: read device identification: %d objects announced, data ends after %d", errMalformed, n, i)
		}
		id, l := p[0], int(p[1])
		if len(p)-2 < l {
			return r, fmt.Errorf("%w: read device identification: object 0x%02x claims %d bytes, %d left", errMalformed, id, l, len(p)-2)
		}
		r.Objects = append(r.Objects, deviceObject{ID: id, Value: printable(p[2:2+l], maxValueLen)})
		p = p[2+l:]
	}
	if len(p) > 0 {
		return r, fmt.Errorf("%w: read device identification: %d bytes after the %d announced objects", errMalformed, len(p), n)
	}
	return r, nil
}

// decodeServerID decodes the data of a FC 17 Report Server ID response:
// a byte count, then device-specific bytes (server ID, run indicator,
// additional data). The layout is vendor specific, so only the printable
// text is kept; the run indicator (0x00/0xFF) is dropped where it trails.
func decodeServerID(data []byte) (string, error) {
	if len(data) < 1 {
		return "", fmt.Errorf("%w: report server id: empty response", errMalformed)
	}
	n := int(data[0])
	if n != len(data)-1 {
		return "", fmt.Errorf("%w: report server id: byte count %d, %d bytes follow", errMalformed, n, len(data)-1)
	}
	body := data[1:]
	for len(body) > 0 && (body[len(body)-1] == 0xFF || body[len(body)-1] == 0x00) {
		body = body[:len(body)-1]
	}
	return printable(body, maxValueLen), nil
}

// maxValueLen bounds every string kept from a device answer.
const maxValueLen = 255

// printable is active.Printable with the padding this protocol uses (spaces and NULs).
func printable(b []byte, max int) string { return active.Printable(b, max, " \x00") }

package bacnet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/pcap/bacnet"
)

// Wire constants of the two requests this package may send.
const (
	bvlcType         = 0x81
	bvlcUnicast      = bacnet.BVLCOriginalUnicastNPDU
	bvlcHeaderLen    = 4
	npduVersion      = 1
	npduExpectReply  = 0x04
	npduPriorityMask = 0x03
	npduHeaderLen    = 2
	apduConfirmed    = 0x00 // PDU type 0, not segmented, segmented response not accepted
	apduUnconfirmed  = 0x10 // PDU type 1
	maxAPDU1476      = 0x05 // max segments unspecified, max APDU 1476 octets
	serviceWhoIs     = bacnet.ServiceWhoIs
	serviceReadProp  = bacnet.ServiceReadProperty
	objectTypeDevice = 8
	instanceMask     = 0x3fffff
	tagObjectID      = 0x0c // context tag 0, length 4
	tagPropertyID1   = 0x19 // context tag 1, length 1
	tagPropertyID2   = 0x1a // context tag 1, length 2
	tagOpening3      = 0x3e
	tagClosing3      = 0x3f
	appTagCharString = 7
	appTagEnumerated = 9
	confirmedReqHdr  = 4 // type+flags, max segs/APDU, invoke ID, service
	readPropertyLen  = bvlcHeaderLen + npduHeaderLen + confirmedReqHdr + 5
	whoIsLen         = bvlcHeaderLen + npduHeaderLen + 2
	maxDatagram      = 1536 // BVLC + longest NPDU + 1476-octet APDU fits
	maxValueLen      = 255  // bytes kept of any string a device sends
)

// whoIsDatagram is the only Who-Is this package sends: BVLC
// Original-Unicast-NPDU, NPDU version 1 with no destination network, APDU
// Unconfirmed-Request who-Is without a range (every device at the address
// answers, and only there: it is unicast).
var whoIsDatagram = []byte{bvlcType, bvlcUnicast, 0, whoIsLen, npduVersion, 0, apduUnconfirmed, serviceWhoIs}

// encodeReadProperty encodes ReadProperty of property on the Device object
// instance, with invoke ID id. It never names an array index.
func encodeReadProperty(id byte, instance uint32, property uint16) []byte {
	b := make([]byte, 0, readPropertyLen+1)
	b = append(b, bvlcType, bvlcUnicast, 0, 0, npduVersion, npduExpectReply,
		apduConfirmed, maxAPDU1476, id, serviceReadProp, tagObjectID)
	b = binary.BigEndian.AppendUint32(b, objectTypeDevice<<22|instance&instanceMask)
	if property <= 0xff {
		b = append(b, tagPropertyID1, byte(property))
	} else {
		b = append(b, tagPropertyID2)
		b = binary.BigEndian.AppendUint16(b, property)
	}
	binary.BigEndian.PutUint16(b[2:4], uint16(len(b)))
	return b
}

// Request kinds, exactly as active.Allowed spells them.
const (
	kindWhoIs        = "who-is"
	kindReadProperty = "read-property"
)

// checkOutgoing is the wire-level allow-list: it decodes a datagram about
// to be written and returns its request kind when it is exactly an
// unranged unicast Who-Is or a ReadProperty of one Device-object property
// (no array index, not segmented, nothing after). Anything else — another
// service, a broadcast, a routed NPDU, a network-layer message, trailing
// bytes, a length that does not add up — returns active.ErrNotAllowed.
func checkOutgoing(b []byte) (string, error) {
	refuse := func(why string, args ...any) (string, error) {
		return "", fmt.Errorf("bacnet guard: %s: %w", fmt.Sprintf(why, args...), active.ErrNotAllowed)
	}
	if len(b) < bvlcHeaderLen+npduHeaderLen+2 || b[0] != bvlcType {
		return refuse("not a BACnet/IP datagram (%d bytes)", len(b))
	}
	if b[1] != bvlcUnicast {
		return refuse("BVLC function 0x%02x is not Original-Unicast-NPDU", b[1])
	}
	if n := int(binary.BigEndian.Uint16(b[2:4])); n != len(b) {
		return refuse("BVLC length %d, datagram %d bytes", n, len(b))
	}
	npdu := b[bvlcHeaderLen:]
	if npdu[0] != npduVersion {
		return refuse("NPDU version %d", npdu[0])
	}
	if ctl := npdu[1]; ctl&^(npduExpectReply|npduPriorityMask) != 0 {
		// Network-layer messages and DNET/SNET routing are never ours.
		return refuse("NPDU control 0x%02x", ctl)
	}
	apdu := npdu[npduHeaderLen:]
	switch {
	case apdu[0] == apduUnconfirmed && apdu[1] == serviceWhoIs && len(apdu) == 2:
		return kindWhoIs, nil
	case apdu[0] == apduUnconfirmed:
		return refuse("unconfirmed service %d (%s) with %d parameter bytes", apdu[1], bacnet.UnconfirmedServiceName(int(apdu[1])), len(apdu)-2)
	case apdu[0]&0xf0 != apduConfirmed:
		return refuse("APDU type %d is not a request this package sends", apdu[0]>>4)
	case apdu[0] != apduConfirmed:
		return refuse("confirmed request flags 0x%02x (segmentation)", apdu[0]&0x0f)
	case len(apdu) < confirmedReqHdr:
		return refuse("confirmed request of %d bytes", len(apdu))
	}
	if service := apdu[3]; service != serviceReadProp {
		return refuse("confirmed service %d (%s)", service, bacnet.ConfirmedServiceName(int(service)))
	}
	body := apdu[confirmedReqHdr:]
	if len(body) < 5 || body[0] != tagObjectID || binary.BigEndian.Uint32(body[1:5])>>22 != objectTypeDevice {
		return refuse("readProperty of something other than a Device object")
	}
	body = body[5:]
	switch {
	case len(body) == 2 && body[0] == tagPropertyID1:
	case len(body) == 3 && body[0] == tagPropertyID2:
	default:
		return refuse("readProperty parameters after the object are not exactly one property identifier (%d bytes)", len(body))
	}
	return kindReadProperty, nil
}

// errMalformed marks a reply that is not well-formed BACnet/IP, or whose
// ReadProperty acknowledgement does not decode.
var errMalformed = errors.New("malformed reply")

// replyKind is what a reply datagram is, as far as the prober cares.
type replyKind int

const (
	replyOther  replyKind = iota // well-formed BACnet, nothing we asked for
	replyIAm                     // I-Am
	replyAck                     // ReadProperty Complex-ACK
	replyError                   // Error PDU
	replyReject                  // Reject PDU
	replyAbort                   // Abort PDU
)

// reply is one decoded datagram from the device.
type reply struct {
	kind replyKind
	// invokeID of an Ack, Error, Reject or Abort.
	invokeID byte
	// service of an Ack or Error (the service choice it answers).
	service int
	// sourceNetwork is the NPDU SNET: an I-Am from a device behind a
	// BACnet router (not the one at the address) has one.
	sourceNetwork uint16
	iam           bacnet.IAm
	// Ack: the object and property it answers and the value.
	object   uint32
	property uint32
	value    propertyValue
	// Error: class and code; Reject and Abort: reason.
	errorClass, errorCode uint32
	reason                byte
}

// propertyValue is the decoded value of a ReadProperty acknowledgement.
// Text is set for a character string in a charset this package renders;
// otherwise Problem says why the value was not kept. Either way Text is
// valid UTF-8 of at most maxValueLen bytes.
type propertyValue struct {
	Text    string
	Problem string
}

// decodeReply decodes a datagram received from the device. Headers come
// from the passive parser; the service bodies this package asked for are
// decoded here, bounded by the datagram whatever lengths it claims. An
// error (errMalformed) means the datagram cannot be attributed to a
// request at all; an acknowledgement whose value does not decode is a
// reply with value.Problem set, so that the request counts as answered.
func decodeReply(b []byte) (reply, error) {
	if len(b) > maxDatagram {
		return reply{}, fmt.Errorf("%w: datagram of %d bytes exceeds %d", errMalformed, len(b), maxDatagram)
	}
	m, err := bacnet.Parse(b)
	if err != nil {
		return reply{}, fmt.Errorf("%w: %v", errMalformed, err)
	}
	if m.LengthMismatch {
		// A device that cannot count its own length has nothing to say we
		// would trust.
		return reply{}, fmt.Errorf("%w: BVLC length %d, datagram %d bytes", errMalformed, binary.BigEndian.Uint16(b[2:4]), len(b))
	}
	r := reply{sourceNetwork: m.SourceNetwork}
	a := m.APDU
	if a == nil {
		return r, nil // BVLC result, network message: BACnet, not ours
	}
	switch a.Type {
	case bacnet.UnconfirmedRequest:
		if a.Service != bacnet.ServiceIAm {
			return r, nil
		}
		iam, err := bacnet.ParseIAm(a)
		if err != nil {
			return reply{}, fmt.Errorf("%w: i-Am: %v", errMalformed, err)
		}
		r.kind, r.iam = replyIAm, iam
	case bacnet.ComplexACK:
		r.kind, r.invokeID, r.service = replyAck, a.InvokeID, a.Service
		if a.Service != serviceReadProp {
			r.kind = replyOther
			return r, nil
		}
		if a.Segmented {
			r.value.Problem = "segmented acknowledgement, though segmentation was not accepted"
			return r, nil
		}
		r.object, r.property, r.value = decodeReadPropertyAck(a.Body)
	case bacnet.Error:
		r.kind, r.invokeID, r.service = replyError, a.InvokeID, a.Service
		body := a.Body
		var ok1, ok2 bool
		r.errorClass, body, ok1 = applicationUnsigned(body, appTagEnumerated)
		r.errorCode, _, ok2 = applicationUnsigned(body, appTagEnumerated)
		if !ok1 || !ok2 {
			return reply{}, fmt.Errorf("%w: error PDU for invoke ID %d without class and code", errMalformed, a.InvokeID)
		}
	case bacnet.Reject, bacnet.Abort:
		if len(a.Body) < 1 {
			return reply{}, fmt.Errorf("%w: reject or abort without a reason", errMalformed)
		}
		r.kind, r.invokeID, r.reason = replyReject, a.InvokeID, a.Body[0]
		if a.Type == bacnet.Abort {
			r.kind = replyAbort
		}
	}
	return r, nil
}

// decodeReadPropertyAck decodes a ReadProperty-ACK body: object identifier
// [0], property identifier [1], no array index, the value between opening
// and closing tag [3]. The value is kept only when it is a single character
// string.
func decodeReadPropertyAck(b []byte) (object, property uint32, v propertyValue) {
	bad := func(why string) (uint32, uint32, propertyValue) {
		return object, property, propertyValue{Problem: "malformed acknowledgement: " + why}
	}
	if len(b) < 5 || b[0] != tagObjectID {
		return bad("no object identifier")
	}
	object = binary.BigEndian.Uint32(b[1:5])
	b = b[5:]
	if len(b) < 1 || b[0]&0xf8 != 0x18 { // context tag 1
		return bad("no property identifier")
	}
	n := int(b[0] & 0x07)
	if n < 1 || n > 4 || len(b) < 1+n {
		return bad("property identifier length")
	}
	for _, c := range b[1 : 1+n] {
		property = property<<8 | uint32(c)
	}
	b = b[1+n:]
	if len(b) < 1 || b[0] != tagOpening3 {
		// An array index [2] here answers a question we did not ask.
		return bad("no opening tag before the value")
	}
	b = b[1:]
	tag, content, rest, ok := applicationElement(b)
	if !ok {
		return bad("value tag or length out of the datagram")
	}
	if len(rest) != 1 || rest[0] != tagClosing3 {
		return bad("more than one value, or no closing tag")
	}
	if tag != appTagCharString {
		return object, property, propertyValue{Problem: "value is application tag " + strconv.Itoa(int(tag)) + ", not a character string"}
	}
	return object, property, characterString(content)
}

// applicationElement reads one application-tagged primitive: its tag
// number, content and what follows. Lengths are checked against b, never
// trusted; constructed and context tags are refused.
func applicationElement(b []byte) (tag byte, content, rest []byte, ok bool) {
	if len(b) < 1 || b[0]&0x08 != 0 {
		return 0, nil, nil, false
	}
	tag = b[0] >> 4
	lvt := int(b[0] & 0x07)
	b = b[1:]
	if tag == 0x0f { // extended tag number: never a type we read
		return 0, nil, nil, false
	}
	n := lvt
	if tag == 1 { // boolean: the value is in the tag
		return tag, nil, b, true
	}
	if lvt == 5 {
		if len(b) < 1 {
			return 0, nil, nil, false
		}
		n, b = int(b[0]), b[1:]
		switch n {
		case 254:
			if len(b) < 2 {
				return 0, nil, nil, false
			}
			n, b = int(binary.BigEndian.Uint16(b)), b[2:]
		case 255:
			if len(b) < 4 {
				return 0, nil, nil, false
			}
			l := binary.BigEndian.Uint32(b)
			if l > uint32(len(b)) {
				return 0, nil, nil, false
			}
			n, b = int(l), b[4:]
		}
	} else if lvt > 5 {
		return 0, nil, nil, false // opening/closing tags are context tags
	}
	if n > len(b) {
		return 0, nil, nil, false
	}
	return tag, b[:n], b[n:], true
}

// applicationUnsigned reads an application-tagged unsigned or enumerated of
// at most four octets with tag number want.
func applicationUnsigned(b []byte, want byte) (uint32, []byte, bool) {
	tag, content, rest, ok := applicationElement(b)
	if !ok || tag != want || len(content) < 1 || len(content) > 4 {
		return 0, nil, false
	}
	var v uint32
	for _, c := range content {
		v = v<<8 | uint32(c)
	}
	return v, rest, true
}

// Character sets of a BACnet CharacterString (its first content octet).
const (
	charsetUTF8    = 0 // ANSI X3.4, UTF-8 since 135-2008
	charsetDBCS    = 1
	charsetJIS     = 2
	charsetUCS4    = 3
	charsetUCS2    = 4
	charsetLatin1  = 5
	stringPadding  = " \x00"
	undecodedRune  = utf8.RuneError
	unitsUCS2Bytes = 2
	unitsUCS4Bytes = 4
)

// characterString renders a CharacterString's content (charset octet, then
// the characters) as bounded printable UTF-8. Charsets that map to Unicode
// by arithmetic (UTF-8, UCS-2, UCS-4, ISO 8859-1) are rendered; the
// double-byte and JIS sets would need tables and are not kept.
func characterString(content []byte) propertyValue {
	if len(content) < 1 {
		return propertyValue{Problem: "character string without a character set"}
	}
	cs, s := content[0], content[1:]
	var runes []rune
	switch cs {
	case charsetUTF8:
		return propertyValue{Text: active.Printable(s, maxValueLen, stringPadding)}
	case charsetLatin1:
		runes = make([]rune, 0, min(len(s), maxValueLen))
		for _, c := range s[:min(len(s), maxValueLen)] {
			runes = append(runes, rune(c))
		}
	case charsetUCS2:
		s = s[:min(len(s), maxValueLen*unitsUCS2Bytes)]
		units := make([]uint16, 0, len(s)/unitsUCS2Bytes)
		for i := 0; i+1 < len(s); i += unitsUCS2Bytes {
			units = append(units, binary.BigEndian.Uint16(s[i:]))
		}
		runes = utf16.Decode(units)
	case charsetUCS4:
		s = s[:min(len(s), maxValueLen*unitsUCS4Bytes)]
		for i := 0; i+3 < len(s); i += unitsUCS4Bytes {
			r := rune(binary.BigEndian.Uint32(s[i:]))
			if !utf8.ValidRune(r) {
				r = undecodedRune
			}
			runes = append(runes, r)
		}
	default:
		return propertyValue{Problem: "character set " + charsetName(cs) + " not rendered"}
	}
	return propertyValue{Text: active.Printable([]byte(string(runes)), maxValueLen, stringPadding)}
}

func charsetName(cs byte) string {
	switch cs {
	case charsetDBCS:
		return "1 (IBM/Microsoft DBCS)"
	case charsetJIS:
		return "2 (JIS X 0208)"
	}
	return strconv.Itoa(int(cs))
}

// errorClassNames and errorCodeNames name the Error PDU values a
// ReadProperty is likely to get (ANSI/ASHRAE 135 clause 21); others are
// reported by number.
var (
	errorClassNames = map[uint32]string{0: "device", 1: "object", 2: "property", 3: "resources", 4: "security", 5: "services", 6: "vt", 7: "communication"}
	errorCodeNames  = map[uint32]string{
		0: "other", 2: "configuration-in-progress", 3: "device-busy", 5: "inconsistent-parameters",
		9: "invalid-data-type", 25: "operational-problem", 27: "read-access-denied", 29: "service-request-denied",
		30: "timeout", 31: "unknown-object", 32: "unknown-property", 42: "invalid-array-index",
		50: "no-space-for-object", 83: "unknown-device",
	}
	rejectReasonNames = map[byte]string{
		0: "other", 1: "buffer-overflow", 2: "inconsistent-parameters", 3: "invalid-parameter-data-type",
		4: "invalid-tag", 5: "missing-required-parameter", 6: "parameter-out-of-range", 7: "too-many-arguments",
		8: "undefined-enumeration", 9: "unrecognized-service",
	}
	abortReasonNames = map[byte]string{
		0: "other", 1: "buffer-overflow", 2: "invalid-apdu-in-this-state", 3: "preempted-by-higher-priority-task",
		4: "segmentation-not-supported", 5: "security-error", 6: "insufficient-security",
		7: "window-size-out-of-range", 8: "application-exceeded-reply-time", 9: "out-of-resources",
		10: "tsm-timeout", 11: "apdu-too-long",
	}
)

func named[K comparable](names map[K]string, k K, n int64) string {
	if s, ok := names[k]; ok {
		return s
	}
	return strconv.FormatInt(n, 10)
}

// outcome describes a refusal reply for logs and errors.
func (r reply) outcome() string {
	switch r.kind {
	case replyError:
		return "error " + named(errorClassNames, r.errorClass, int64(r.errorClass)) + "/" + named(errorCodeNames, r.errorCode, int64(r.errorCode))
	case replyReject:
		return "reject " + named(rejectReasonNames, r.reason, int64(r.reason))
	case replyAbort:
		return "abort " + named(abortReasonNames, r.reason, int64(r.reason))
	}
	return ""
}

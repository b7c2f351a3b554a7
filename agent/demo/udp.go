package demo

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gosnmp/gosnmp"
)

const (
	ntpPort  = 123
	snmpPort = 161
	// ntpEpochOffset is the seconds from 1900 (NTP era 0) to 1970.
	ntpEpochOffset = 2208988800
)

func ntpTimestamp(t time.Time) uint64 {
	secs := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return secs<<32 | frac
}

// ntpPacket encodes a 48-byte NTP header (no extensions, no MAC).
func ntpPacket(mode, stratum byte, poll, precision int8, rootDelay, rootDisp uint32, refID [4]byte,
	ref, origin, receive, transmit uint64) []byte {
	b := make([]byte, 48)
	b[0] = 0<<6 | 3<<3 | mode // LI none, version 3 (what Windows w32time speaks)
	b[1] = stratum
	b[2] = byte(poll)
	b[3] = byte(precision)
	binary.BigEndian.PutUint32(b[4:8], rootDelay)
	binary.BigEndian.PutUint32(b[8:12], rootDisp)
	copy(b[12:16], refID[:])
	binary.BigEndian.PutUint64(b[16:24], ref)
	binary.BigEndian.PutUint64(b[24:32], origin)
	binary.BigEndian.PutUint64(b[32:40], receive)
	binary.BigEndian.PutUint64(b[40:48], transmit)
	return b
}

// ntpExchange is the SCADA server's w32time asking the cell firewall for
// the time (both on port 123, as Windows does). The server's clock runs
// 180 ms fast; the firewall is stratum 2 behind the site time server.
func ntpExchange(tl *timeline, at time.Duration) {
	r := newRNG(fmt.Sprintf("ntp/%d", at/time.Millisecond))
	clientSkew := 180 * time.Millisecond
	sent := captureStart.Add(at + clientSkew)
	request := ntpPacket(3, 0, 10, -23, 0, 0, [4]byte{}, 0, 0, 0, ntpTimestamp(sent))
	tl.udp(at, scada, firewall, ntpPort, ntpPort, request)
	received := at + r.between(120*time.Microsecond, 300*time.Microsecond)
	answered := received + r.between(30*time.Microsecond, 90*time.Microsecond)
	reference := captureStart.Add(at - 37*time.Second)
	response := ntpPacket(4, 2, 10, -20, 0x0000_0a3d, 0x0000_1c4e, [4]byte{10, 20, 0, 1},
		ntpTimestamp(reference), ntpTimestamp(sent),
		ntpTimestamp(captureStart.Add(received)), ntpTimestamp(captureStart.Add(answered)))
	tl.udp(answered+r.between(20*time.Microsecond, 60*time.Microsecond), firewall, scada, ntpPort, ntpPort, response)
}

// SNMP objects the NMS reads from the switch.
const (
	oidSysDescr    = ".1.3.6.1.2.1.1.1.0"
	oidSysObjectID = ".1.3.6.1.2.1.1.2.0"
	oidSysName     = ".1.3.6.1.2.1.1.5.0"
	// snmpCommunity is the default read community the NMS still uses.
	snmpCommunity = "public"
)

const switchSysDescr = "Cisco IOS Software, IE4000 Software (IE4000-UNIVERSALK9-M), Version 15.2(7)E4, " +
	"RELEASE SOFTWARE (fc2)\r\nTechnical Support: http://www.cisco.com/techsupport\r\n" +
	"Copyright (c) 1986-2021 by Cisco Systems, Inc.\r\nCompiled Mon 08-Mar-21 10:12 by mcpre"

// switchSysObjectID is an OID under Cisco's ciscoProducts arc.
const switchSysObjectID = ".1.3.6.1.4.1.9.1.2064"

// snmpPolling is the NMS's SNMPv1 GetRequest for three system objects
// and the switch's GetResponse, at each of the given times.
func snmpPolling(tl *timeline, times []time.Duration) {
	r := newRNG("snmp")
	srcPort := tl.ephemeralPort(nms)
	requestID := uint32(r.next()>>34) + 1
	for _, at := range times {
		request := &gosnmp.SnmpPacket{
			Version: gosnmp.Version1, Community: snmpCommunity, PDUType: gosnmp.GetRequest, RequestID: requestID,
			Variables: []gosnmp.SnmpPDU{
				{Name: oidSysDescr, Type: gosnmp.Null},
				{Name: oidSysObjectID, Type: gosnmp.Null},
				{Name: oidSysName, Type: gosnmp.Null},
			},
		}
		response := &gosnmp.SnmpPacket{
			Version: gosnmp.Version1, Community: snmpCommunity, PDUType: gosnmp.GetResponse, RequestID: requestID,
			Variables: []gosnmp.SnmpPDU{
				{Name: oidSysDescr, Type: gosnmp.OctetString, Value: switchSysDescr},
				{Name: oidSysObjectID, Type: gosnmp.ObjectIdentifier, Value: switchSysObjectID},
				{Name: oidSysName, Type: gosnmp.OctetString, Value: cellSwitch.Name},
			},
		}
		req, err := request.MarshalMsg()
		if err != nil {
			tl.fail(fmt.Errorf("snmp %s: marshal GetRequest %d: %w", cellSwitch.IP, requestID, err))
			return
		}
		resp, err := response.MarshalMsg()
		if err != nil {
			tl.fail(fmt.Errorf("snmp %s: marshal GetResponse %d: %w", cellSwitch.IP, requestID, err))
			return
		}
		tl.udp(at, nms, cellSwitch, srcPort, snmpPort, req)
		tl.udp(at+r.between(1200*time.Microsecond, 3500*time.Microsecond), cellSwitch, nms, snmpPort, srcPort, resp)
		requestID++
	}
}

// Package demo generates the demo plant capture that `otaudit demo` analyses:
// about ninety seconds of traffic in packaging cell 1 (Modbus/TCP polling, an
// unauthorised Modbus write from a contractor laptop, a Telnet login with a
// default password, SNMPv1 with community "public", RDP from the enterprise
// network, OPC UA with SecurityPolicy None, a PLC web server, ARP and NTP),
// together with the zone configuration (zone.yaml) that describes the cell.
//
// The capture is built packet by packet with gopacket and is deterministic:
// the same bytes on every call and machine, so tests can pin its SHA-256 and
// findings can cite frame numbers. Scenario lists who is on the wire and what
// each actor does, for tests and documentation.
//
// Nothing here analyses traffic, scores or stores anything, and nothing here
// opens a socket: the only I/O is WriteCapture writing the file it is given.
package demo

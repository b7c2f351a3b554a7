package demo

import (
	"net"
	"net/netip"
	"time"
)

// Actor is one party on the demo capture.
type Actor struct {
	Name string
	IP   netip.Addr
	// MAC is the address the actor's own frames carry on the cell switch.
	// It is empty for hosts beyond the cell firewall: their frames reach the
	// cell with the firewall's MAC, as in any routed network.
	MAC      string
	Vendor   string
	Model    string
	Firmware string
	// Role is the register's role (PLC, HMI, EWS, SCADA, …).
	Role string
	// InZone: the address lies in cell-1 (10.10.0.0/16).
	InZone bool
	// Registered: the actor is in zone.yaml's approved asset register.
	Registered bool
	// Activity says what the actor does in the capture.
	Activity string
}

// stack is how a host's TCP/IP implementation looks on the wire: enough to
// make each conversation carry its operating system's fingerprint.
type stack struct {
	ttl uint8
	// window is the receive window advertised in SYN and SYN/ACK; once
	// window scaling is agreed, scaledWindow is what the segments carry.
	window       uint16
	scaledWindow uint16
	// windowScale is the shift offered in the SYN, -1 for none.
	windowScale int
	sackOK      bool
	// delayedAck is how long the host holds back a pure ACK.
	delayedAck time.Duration
	// ephemeralBase is where the host's client ports start.
	ephemeralBase uint16
}

var (
	windowsStack = stack{ttl: 128, window: 64240, scaledWindow: 1026, windowScale: 8, sackOK: true,
		delayedAck: 200 * time.Millisecond, ephemeralBase: 49721}
	linuxStack = stack{ttl: 64, window: 64240, scaledWindow: 502, windowScale: 7, sackOK: true,
		delayedAck: 40 * time.Millisecond, ephemeralBase: 41862}
	// The PLCs' embedded stacks offer only an MSS and a small window.
	plcStack = stack{ttl: 64, window: 8192, scaledWindow: 8192, windowScale: -1,
		delayedAck: 50 * time.Millisecond, ephemeralBase: 1025}
	ciscoStack = stack{ttl: 255, window: 4128, scaledWindow: 4128, windowScale: -1,
		delayedAck: 100 * time.Millisecond, ephemeralBase: 20001}
)

// host is an actor as the generator needs it.
type host struct {
	Actor
	mac   net.HardwareAddr
	stack stack
	// local: on the cell's Ethernet segment, so its frames carry its own
	// MAC; everything else is routed through the firewall.
	local bool
}

func newHost(a Actor, mac string, s stack) *host {
	h := &host{Actor: a, stack: s}
	h.InZone = cellPrefix.Contains(a.IP)
	h.local = h.InZone
	if mac != "" {
		// The literals below are well-formed; a typo shows up in the tests
		// as a host without a MAC.
		h.mac, _ = net.ParseMAC(mac)
		h.MAC = mac
	}
	return h
}

var cellPrefix = netip.MustParsePrefix("10.10.0.0/16")

// The plant. MACs use each vendor's real OUI: 00:80:f4 is Telemecanique,
// Schneider Electric's block; 00:1b:1b Siemens; 00:00:bc Rockwell; 00:90:e8
// Moxa; 70:0f:6a Cisco; d0:94:66, 54:bf:64 and e4:54:e8 Dell; 3c:d9:2b HP.
var (
	firewall = newHost(Actor{Name: "cell1-fw", IP: netip.MustParseAddr("10.10.0.1"),
		Vendor: "Moxa", Model: "EDR-810", Firmware: "v5.7", Role: "firewall", Registered: true,
		Activity: "default gateway of the cell and its NTP server; routes the DMZ and enterprise traffic in"},
		"00:90:e8:5a:3c:01", linuxStack)
	cellSwitch = newHost(Actor{Name: "cell1-sw01", IP: netip.MustParseAddr("10.10.0.2"),
		Vendor: "Cisco", Model: "IE-4000-8GT4G4E", Firmware: "15.2(7)E4", Role: "switch", Registered: true,
		Activity: "managed switch; SNMPv1 agent answering the NMS with community public"},
		"70:0f:6a:1e:44:c1", ciscoStack)
	ews = newHost(Actor{Name: "ews-01", IP: netip.MustParseAddr("10.10.1.5"),
		Vendor: "HP", Model: "Z2 G9", Role: "EWS", Registered: true,
		Activity: "engineering workstation; reads PLC-1's device identification (Modbus FC 43/14, read codes 01 and 02)"},
		"3c:d9:2b:7a:10:05", windowsStack)
	scada = newHost(Actor{Name: "scada-01", IP: netip.MustParseAddr("10.10.1.10"),
		Vendor: "Dell", Model: "PowerEdge R650", Role: "SCADA", Registered: true,
		Activity: "SCADA master; polls both PLCs every second (Modbus FC 3 and FC 4, unit 1), writes setpoints every 20 s (FC 16), syncs time by NTP"},
		"d0:94:66:21:0a:10", windowsStack)
	hmi = newHost(Actor{Name: "hmi-01", IP: netip.MustParseAddr("10.10.1.20"),
		Vendor: "Siemens", Model: "SIMATIC IPC677E", Role: "HMI", Registered: true,
		Activity: "operator HMI; opens PLC-2's web page, logs in to PLC-1 by Telnet with a default password, and is the target of an RDP session from the enterprise network"},
		"00:1b:1b:6c:02:14", windowsStack)
	nms = newHost(Actor{Name: "nms-01", IP: netip.MustParseAddr("10.10.1.30"),
		Vendor: "Dell", Model: "OptiPlex 7000", Role: "NMS", Registered: true,
		Activity: "network management station; SNMPv1 GetRequest for sysDescr.0, sysObjectID.0, sysName.0 every 30 s"},
		"54:bf:64:0e:1e:30", linuxStack)
	opcuaServer = newHost(Actor{Name: "opcua-01", IP: netip.MustParseAddr("10.10.1.40"),
		Vendor: "Rockwell Automation", Model: "ASEM 6300B (FactoryTalk Optix)", Role: "server", Registered: true,
		Activity: "OPC UA server (opc.tcp://10.10.1.40:4840/cell1) offering SecurityPolicy None"},
		"00:00:bc:5d:28:40", linuxStack)
	plc1 = newHost(Actor{Name: "plc-1", IP: netip.MustParseAddr("10.10.2.10"),
		Vendor: "Schneider Electric", Model: "BMX P34 2020", Firmware: "v3.1", Role: "PLC", Registered: true,
		Activity: "filler PLC (Modicon M340); Modbus/TCP server, also runs a Telnet service"},
		"00:80:f4:12:a0:10", plcStack)
	plc2 = newHost(Actor{Name: "plc-2", IP: netip.MustParseAddr("10.10.2.11"),
		Vendor: "Schneider Electric", Model: "TM251MESE", Firmware: "v5.1", Role: "PLC", Registered: true,
		Activity: "capper PLC (Modicon M251); Modbus/TCP server, also serves HTTP on port 80"},
		"00:80:f4:12:a0:11", plcStack)
	laptop = newHost(Actor{Name: "contractor-laptop", IP: netip.MustParseAddr("10.10.3.66"),
		Vendor: "Dell", Model: "Latitude 5440", Role: "laptop",
		Activity: "contractor laptop, not registered and not an EWS; writes to PLC-1 with Modbus FC 6 and FC 5"},
		"e4:54:e8:33:9c:66", windowsStack)
	historian = newHost(Actor{Name: "historian-01", IP: netip.MustParseAddr("10.20.0.5"),
		Vendor: "Dell", Model: "PowerEdge R450", Role: "historian", Registered: true,
		Activity: "site-DMZ historian, the declared conduit peer; OPC UA client of opcua-01 (SecurityPolicy None)"},
		"", linuxStack)
	dmzPoller = newHost(Actor{Name: "dmz-report-01", IP: netip.MustParseAddr("10.20.0.7"),
		Vendor: "Dell", Model: "PowerEdge R250", Role: "server", Registered: true,
		Activity: "site-DMZ reporting server polling PLC-2 with Modbus FC 3 straight across the boundary (the conduit allows only OPC UA)"},
		"", linuxStack)
	enterprisePC = newHost(Actor{Name: "enterprise-pc", IP: netip.MustParseAddr("192.168.50.23"),
		Role:     "workstation",
		Activity: "enterprise-network PC, not a jump host; RDP session to the HMI with cookie mstshash=vendor-support"},
		"", windowsStack)
)

// hosts lists every actor in a fixed order; nothing iterates a map.
var hosts = []*host{firewall, cellSwitch, ews, scada, hmi, nms, opcuaServer, plc1, plc2, laptop,
	historian, dmzPoller, enterprisePC}

// Scenario describes the actors of the demo capture. It is a copy:
// changing it does not change the capture.
var Scenario = scenario()

func scenario() []Actor {
	actors := make([]Actor, len(hosts))
	for i, h := range hosts {
		actors[i] = h.Actor
	}
	return actors
}

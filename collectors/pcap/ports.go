package pcap

// wellKnown names the service on a port. It decides a flow's protocol when
// no payload signature did, and which side is the server when no SYN was
// seen. TCP and UDP are separate tables because several ports differ.
var tcpPorts, udpPorts = buildPortTables()

// buildPortTables turns the readable list below into the two maps; they are
// never written afterwards.
func buildPortTables() (tcpPorts, udpPorts map[uint16]string) {
	tcpPorts, udpPorts = map[uint16]string{}, map[uint16]string{}
	both := func(name string, ports ...uint16) {
		for _, p := range ports {
			tcpPorts[p] = name
			udpPorts[p] = name
		}
	}
	tcp := func(name string, ports ...uint16) {
		for _, p := range ports {
			tcpPorts[p] = name
		}
	}
	udp := func(name string, ports ...uint16) {
		for _, p := range ports {
			udpPorts[p] = name
		}
	}
	tcp("modbus", 502)
	tcp("s7comm", 102)
	both("enip", 44818)
	udp("cip-io", 2222)
	both("dnp3", 20000)
	tcp("iec104", 2404)
	udp("bacnet", 47808)
	tcp("opcua", 4840)
	udp("profinet", 34962, 34963, 34964)
	udp("snmp", 161)
	udp("snmp-trap", 162)
	tcp("telnet", 23)
	tcp("ftp", 21)
	tcp("ftp-data", 20)
	udp("tftp", 69)
	tcp("ssh", 22)
	tcp("http", 80, 8080)
	tcp("https", 443)
	both("rdp", 3389)
	tcp("vnc", 5900, 5901, 5902, 5903, 5904, 5905, 5906, 5907, 5908, 5909, 5910)
	both("teamviewer", 5938)
	tcp("anydesk", 7070)
	tcp("smb", 445)
	both("netbios", 137, 138, 139)
	both("dns", 53)
	udp("ntp", 123)
	udp("syslog", 514)
	tcp("ldap", 389)
	tcp("mssql", 1433)
	tcp("mysql", 3306)
	udp("ike", 500, 4500)
	tcp("openvpn", 1194)
	udp("openvpn", 1194)
	udp("wireguard", 51820)
	udp("dhcp", 67, 68)
	both("llmnr", 5355)
	udp("mdns", 5353)
	udp("ssdp", 1900)
	tcp("mqtt", 1883)
	tcp("codesys", 2455)
	udp("fins", 9600)
	return tcpPorts, udpPorts
}

// The same tables as arrays indexed by port, for the per-packet path,
// where a map lookup per port was a visible share of the analysis: each
// entry is an index in portNames (0: no service).
var (
	portNames              = []string{""}
	tcpPortIdx, udpPortIdx [1 << 16]uint16
	// udpPortDissected[i] says a datagram dissector reads portNames[i].
	udpPortDissected []bool
	// portNameIdx is the index of each name in portNames.
	portNameIdx map[string]uint16
)

func init() {
	idx := map[string]uint16{"": 0}
	name := func(n string) uint16 {
		i, ok := idx[n]
		if !ok {
			i = uint16(len(portNames))
			idx[n] = i
			portNames = append(portNames, n)
		}
		return i
	}
	for port, n := range tcpPorts {
		tcpPortIdx[port] = name(n)
	}
	for port, n := range udpPorts {
		udpPortIdx[port] = name(n)
	}
	portNameIdx = idx
	udpPortDissected = make([]bool, len(portNames))
	for i, n := range portNames {
		udpPortDissected[i] = udpDissectors[n] != nil
	}
}

func portProtocol(t l4, port uint16) string {
	if t == l4TCP {
		return portNames[tcpPortIdx[port]]
	}
	return portNames[udpPortIdx[port]]
}

// udpPortProtocol is portProtocol for UDP, with whether a datagram
// dissector reads that protocol.
func udpPortProtocol(port uint16) (string, bool) {
	i := udpPortIdx[port]
	return portNames[i], udpPortDissected[i]
}

package demo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/gopcua/opcua/uasc"
	"github.com/gosnmp/gosnmp"
)

func TestModbusOperations(t *testing.T) {
	dc := loadCapture(t)
	txs := dc.modbusTransactions(t)
	// Requests per client, server, unit and function code.
	counts := map[string]int{}
	for _, tx := range txs {
		counts[fmt.Sprintf("%s>%s/u%d/fc%d", tx.client, tx.server, tx.request.unit, tx.request.pdu[0])]++
		if tx.response.pdu[0] != tx.request.pdu[0] {
			t.Errorf("%s -> %s tid %d: FC %d answered with %#x (exception)", tx.client, tx.server, tx.request.tid,
				tx.request.pdu[0], tx.response.pdu[0])
		}
	}
	writesPerPLC := (scadaPolls - scadaSetpointFirst + scadaSetpointEvery - 1) / scadaSetpointEvery
	laptopFC := map[byte]int{}
	for _, op := range laptopOps {
		laptopFC[op.fc]++
	}
	want := map[string]int{
		"10.10.1.10>10.10.2.10/u1/fc3":  scadaPolls,
		"10.10.1.10>10.10.2.10/u1/fc4":  scadaPolls,
		"10.10.1.10>10.10.2.10/u1/fc16": writesPerPLC,
		"10.10.1.10>10.10.2.11/u1/fc3":  scadaPolls,
		"10.10.1.10>10.10.2.11/u1/fc4":  scadaPolls,
		"10.10.1.10>10.10.2.11/u1/fc16": writesPerPLC,
		"10.10.1.5>10.10.2.10/u1/fc43":  2,
		"10.10.3.66>10.10.2.10/u1/fc3":  laptopFC[fcReadHoldingRegisters],
		"10.10.3.66>10.10.2.10/u1/fc5":  laptopFC[fcWriteSingleCoil],
		"10.10.3.66>10.10.2.10/u1/fc6":  laptopFC[fcWriteSingleRegister],
		"10.20.0.7>10.10.2.11/u1/fc3":   dmzPolls,
	}
	for _, k := range sortedKeys(want) {
		if counts[k] != want[k] {
			t.Errorf("%s: %d requests, want %d", k, counts[k], want[k])
		}
	}
	for _, k := range sortedKeys(counts) {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected Modbus traffic %s (%d requests)", k, counts[k])
		}
	}
	if writesPerPLC < 4 || laptopFC[fcWriteSingleCoil] < 2 || laptopFC[fcWriteSingleRegister] < 2 {
		t.Errorf("plan too thin: %d SCADA writes per PLC, laptop FC5 %d, FC6 %d", writesPerPLC,
			laptopFC[fcWriteSingleCoil], laptopFC[fcWriteSingleRegister])
	}
}

func TestModbusWritesTakeEffect(t *testing.T) {
	dc := loadCapture(t)
	var laptopWrites, scadaWrites int
	var lastSetpoint uint16
	raisedSeen := false
	for _, tx := range dc.modbusTransactions(t) {
		req, resp := tx.request.pdu, tx.response.pdu
		switch {
		case tx.client == laptop.IP && (req[0] == fcWriteSingleRegister || req[0] == fcWriteSingleCoil):
			laptopWrites++
			if !bytes.Equal(req, resp) {
				t.Errorf("laptop FC %d tid %d: response % x does not echo request % x", req[0], tx.request.tid, resp, req)
			}
			if req[0] == fcWriteSingleCoil {
				if v := binary.BigEndian.Uint16(req[3:5]); v != coilOn && v != coilOff {
					t.Errorf("laptop FC 5 value %#04x is neither ON nor OFF", v)
				}
			} else {
				lastSetpoint = binary.BigEndian.Uint16(req[3:5])
			}
		case tx.client == laptop.IP && req[0] == fcReadHoldingRegisters && lastSetpoint != 0:
			// Register 0 mirrors the speed setpoint the contractor wrote.
			if got := binary.BigEndian.Uint16(resp[2:4]); got != lastSetpoint {
				t.Errorf("laptop read-back tid %d: setpoint %d, want the %d just written", tx.request.tid, got, lastSetpoint)
			}
			raisedSeen = raisedSeen || lastSetpoint == 150
		case tx.client == scada.IP && req[0] == fcWriteMultipleRegisters:
			scadaWrites++
			if addr := binary.BigEndian.Uint16(req[1:3]); addr != setpointRegister {
				t.Errorf("SCADA FC 16 to register %d, want %d", addr, setpointRegister)
			}
			if !bytes.Equal(resp, req[:5]) {
				t.Errorf("SCADA FC 16 tid %d: response % x does not confirm address and quantity % x", tx.request.tid, resp, req[:5])
			}
		}
	}
	if laptopWrites == 0 || scadaWrites == 0 || !raisedSeen {
		t.Errorf("laptop writes %d, SCADA writes %d, raised setpoint read back %v", laptopWrites, scadaWrites, raisedSeen)
	}
}

func TestReadDeviceIdentification(t *testing.T) {
	dc := loadCapture(t)
	got := map[byte]string{}
	exchanges := 0
	for _, tx := range dc.modbusTransactions(t) {
		if tx.request.pdu[0] != fcEncapsulatedInterface {
			continue
		}
		exchanges++
		req, resp := tx.request.pdu, tx.response.pdu
		if tx.client != ews.IP || tx.server != plc1.IP || req[1] != meiReadDeviceID {
			t.Errorf("FC 43 from %s to %s MEI %#x, want the EWS reading PLC-1 with MEI 0x0E", tx.client, tx.server, req[1])
		}
		if len(resp) < 7 || resp[1] != meiReadDeviceID || resp[2] != req[2] {
			t.Fatalf("FC 43 response % x does not answer read code %d", resp, req[2])
		}
		n, b := int(resp[6]), resp[7:]
		for i := 0; i < n; i++ {
			if len(b) < 2 || len(b) < 2+int(b[1]) {
				t.Fatalf("FC 43 response: object %d truncated", i)
			}
			got[b[0]] = string(b[2 : 2+int(b[1])])
			b = b[2+int(b[1]):]
		}
		if len(b) != 0 {
			t.Errorf("FC 43 response: %d bytes after the last object", len(b))
		}
	}
	want := map[byte]string{0: "Schneider Electric", 1: "BMX P34 2020", 2: "v3.1", 4: "Modicon M340", 5: "BMX P34 2020"}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("device identification object %d = %q, want %q", id, got[id], v)
		}
	}
	if exchanges != 2 {
		t.Errorf("%d FC 43 exchanges, want basic (01) and regular (02)", exchanges)
	}
}

func TestSNMPCommunityDecodes(t *testing.T) {
	dc := loadCapture(t)
	decoder := &gosnmp.GoSNMP{Version: gosnmp.Version1}
	var requests, responses int
	for _, p := range dc.packets {
		if p.udp == nil || (p.udp.DstPort != snmpPort && p.udp.SrcPort != snmpPort) {
			continue
		}
		pkt, err := decoder.SnmpDecodePacket(p.payload)
		if err != nil {
			t.Fatalf("frame %d: SNMP does not decode: %v", p.n, err)
		}
		if pkt.Version != gosnmp.Version1 || pkt.Community != snmpCommunity {
			t.Errorf("frame %d: SNMP %v community %q, want v1 %q", p.n, pkt.Version, pkt.Community, snmpCommunity)
		}
		switch pkt.PDUType {
		case gosnmp.GetRequest:
			requests++
			if p.src != nms.IP || p.dst != cellSwitch.IP {
				t.Errorf("frame %d: GetRequest %v -> %v, want NMS -> switch", p.n, p.src, p.dst)
			}
		case gosnmp.GetResponse:
			responses++
			if len(pkt.Variables) != 3 {
				t.Fatalf("frame %d: %d varbinds, want 3", p.n, len(pkt.Variables))
			}
			descr, _ := pkt.Variables[0].Value.([]byte)
			if pkt.Variables[0].Name != oidSysDescr || !strings.HasPrefix(string(descr), "Cisco IOS Software, IE4000") {
				t.Errorf("frame %d: sysDescr %s = %q", p.n, pkt.Variables[0].Name, descr)
			}
			if pkt.Variables[1].Type != gosnmp.ObjectIdentifier || pkt.Variables[1].Value != switchSysObjectID {
				t.Errorf("frame %d: sysObjectID %v %v", p.n, pkt.Variables[1].Type, pkt.Variables[1].Value)
			}
			if name, _ := pkt.Variables[2].Value.([]byte); string(name) != cellSwitch.Name {
				t.Errorf("frame %d: sysName %q, want %q", p.n, name, cellSwitch.Name)
			}
		default:
			t.Errorf("frame %d: unexpected SNMP PDU %v", p.n, pkt.PDUType)
		}
	}
	if requests == 0 || requests != responses {
		t.Errorf("%d GetRequests, %d GetResponses", requests, responses)
	}
}

func TestTelnetLogin(t *testing.T) {
	dc := loadCapture(t)
	streams := dc.streamsTo(plc1.IP, telnetPort)
	if len(streams) != 1 || streams[0].client.ip != hmi.IP {
		t.Fatalf("%d Telnet connections to PLC-1, want one from the HMI", len(streams))
	}
	s := streams[0]
	fromServer, fromClient := string(s.toClient), string(s.toServer)
	login, password := strings.Index(fromServer, "login: "), strings.Index(fromServer, "Password: ")
	if login < 0 || password < login {
		t.Errorf("server stream lacks \"login: \" then \"Password: \": %q", fromServer)
	}
	if !strings.HasPrefix(fromServer, string([]byte{iac, do, optTType})) {
		t.Errorf("server does not open with option negotiation: % x", s.toClient[:min(12, len(s.toClient))])
	}
	// The user name is echoed key by key; the password is not.
	if echoed := fromServer[login:password]; !strings.Contains(echoed, telnetUser) {
		t.Errorf("user name not echoed between the prompts: %q", echoed)
	}
	if !strings.Contains(fromClient, telnetUser+"\r\n"+telnetPassword+"\r\n") {
		t.Errorf("client stream lacks the typed login")
	}
	keystrokes := 0
	for _, p := range s.segments {
		if p.src == hmi.IP && len(p.payload) == 1 {
			keystrokes++
		}
	}
	if keystrokes < len(telnetUser)+len(telnetPassword) {
		t.Errorf("%d one-byte client segments, want at least one per typed character", keystrokes)
	}
	if last := s.segments[len(s.segments)-3]; !last.tcp.FIN || last.src != plc1.IP {
		t.Errorf("frame %d: the PLC does not close the Telnet session with FIN after logout", last.n)
	}
}

func TestRDPCookie(t *testing.T) {
	dc := loadCapture(t)
	streams := dc.streamsTo(hmi.IP, rdpPort)
	if len(streams) != 1 || streams[0].client.ip != enterprisePC.IP {
		t.Fatalf("%d RDP connections to the HMI, want one from the enterprise PC", len(streams))
	}
	s := streams[0]
	if !bytes.Contains(s.toServer, []byte("Cookie: mstshash=vendor-support\r\n")) {
		t.Error("X.224 Connection Request lacks the mstshash cookie")
	}
	if s.toServer[0] != 3 || s.toServer[5] != 0xe0 {
		t.Errorf("first client PDU is not TPKT/X.224 CR: % x", s.toServer[:8])
	}
	if s.toClient[5] != 0xd0 || s.toClient[11] != 0x02 || binary.LittleEndian.Uint32(s.toClient[15:19]) != rdpProtocolSSL {
		t.Errorf("server does not confirm with an RDP Negotiation Response selecting TLS: % x", s.toClient[:19])
	}
	duration := s.segments[len(s.segments)-1].ts.Sub(s.segments[0].ts).Seconds()
	if duration < 25 || duration > 40 || len(s.toClient) < 10_000 || len(s.toServer) < 2_000 {
		t.Errorf("RDP session %.0f s, %d bytes to client, %d to server: want ~30 s and kilobytes both ways",
			duration, len(s.toClient), len(s.toServer))
	}
}

func TestOPCUASecurityPolicy(t *testing.T) {
	dc := loadCapture(t)
	streams := dc.streamsTo(opcuaServer.IP, opcuaPort)
	if len(streams) != 1 || streams[0].client.ip != historian.IP {
		t.Fatalf("%d OPC UA connections, want one from the historian", len(streams))
	}
	b := streams[0].toServer
	types := []string{}
	for len(b) >= 8 {
		size := int(binary.LittleEndian.Uint32(b[4:8]))
		if size < 8 || size > len(b) {
			t.Fatalf("OPC UA chunk size %d with %d bytes left", size, len(b))
		}
		chunk := b[:size]
		b = b[size:]
		types = append(types, string(chunk[:3]))
		switch string(chunk[:3]) {
		case "HEL":
			if !bytes.Contains(chunk, []byte(opcuaEndpointURL)) {
				t.Errorf("HEL lacks endpoint %s", opcuaEndpointURL)
			}
		case "OPN", "MSG":
			m := new(uasc.Message)
			if _, err := m.Decode(chunk); err != nil {
				t.Fatalf("%s chunk does not decode: %v", chunk[:3], err)
			}
			if string(chunk[:3]) == "OPN" && m.AsymmetricSecurityHeader.SecurityPolicyURI != securityPolicyNone {
				t.Errorf("OPN policy %q, want %q", m.AsymmetricSecurityHeader.SecurityPolicyURI, securityPolicyNone)
			}
		}
	}
	if len(b) != 0 || len(types) < 6 || types[0] != "HEL" || types[1] != "OPN" || types[2] != "MSG" {
		t.Errorf("client chunks %v (%d bytes left), want HEL, OPN, then MSG chunks", types, len(b))
	}
}

func TestHTTPFromPLC2(t *testing.T) {
	dc := loadCapture(t)
	streams := dc.streamsTo(plc2.IP, httpPort)
	if len(streams) != 1 {
		t.Fatalf("%d HTTP connections to PLC-2, want 1", len(streams))
	}
	s := streams[0]
	if !strings.HasPrefix(string(s.toServer), "GET / HTTP/1.1\r\n") {
		t.Errorf("request %q is not a GET of /", s.toServer[:min(20, len(s.toServer))])
	}
	if !strings.HasPrefix(string(s.toClient), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(s.toClient), "\r\n\r\n"+plc2Page) {
		t.Errorf("response is not 200 with the page: %q", s.toClient[:min(40, len(s.toClient))])
	}
}

func TestEveryActorOnTheWire(t *testing.T) {
	dc := loadCapture(t)
	seen := map[string]bool{}
	for _, p := range dc.packets {
		if p.ip != nil {
			seen[p.src.String()] = true
		}
		if p.arp != nil {
			seen[netipFrom(p.arp.SourceProtAddress)] = true
		}
	}
	for _, a := range Scenario {
		if !seen[a.IP.String()] {
			t.Errorf("%s (%s) never sends anything", a.Name, a.IP)
		}
		if a.InZone != cellPrefix.Contains(a.IP) || (a.MAC == "") == a.InZone {
			t.Errorf("%s: InZone %v, MAC %q inconsistent with address %s", a.Name, a.InZone, a.MAC, a.IP)
		}
		if a.Activity == "" || a.Name == "" {
			t.Errorf("%s: Scenario entry incomplete", a.IP)
		}
	}
	// Scenario is a copy; editing it must not change the capture.
	saved := Scenario[0].Name
	Scenario[0].Name = "changed"
	defer func() { Scenario[0].Name = saved }()
	again, err := Capture()
	if err != nil || !bytes.Equal(again, dc.raw) {
		t.Errorf("editing Scenario changed the capture (err %v)", err)
	}
}

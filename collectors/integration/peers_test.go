//go:build integration

package integration_test

// The peers answer third-party clients as the zone configures them. These
// tests pin the facts the scan assertions rely on, using the protocol
// libraries directly and read requests only, so a broken zone shows here
// rather than as a puzzling collector failure.

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/goburrow/modbus"
	"github.com/gopcua/opcua"
	"github.com/gopcua/opcua/ua"
	"github.com/gosnmp/gosnmp"
)

// What the peers are configured with (.ci/testbed/snmp/snmpd.conf,
// modbus/pymodbus_server.py, opcua/server.js).
const (
	wantSysDescr    = "Siemens, SIMATIC NET, SCALANCE X208, HW: Version 3, FW: Version V4.1.4"
	wantSysName     = "SCALANCE-X208-L1"
	wantSysObjectID = ".1.3.6.1.4.1.4329.6.1.2"
	wantSysContact  = "ot-admin@plant.example"
	wantSysLocation = "Plant-A Hall-3 Cabinet-7"

	wantModbusVendor   = "Schneider Electric"
	wantModbusProduct  = "BMX P34 2020" // ProductCode and ModelName
	wantModbusRevision = "v2.70"

	wantOPCProduct      = "SIMATIC S7-1500 OPC UA Server"
	wantOPCManufacturer = "Siemens AG"
	wantOPCVersion      = "V2.9.4"

	// A community no peer accepts and no default list holds.
	wrongCommunity = "otaudit-site-wrong-7f3a"

	policyNone          = "http://opcfoundation.org/UA/SecurityPolicy#None"
	policyBasic128Rsa15 = "http://opcfoundation.org/UA/SecurityPolicy#Basic128Rsa15"
	policyBasic256      = "http://opcfoundation.org/UA/SecurityPolicy#Basic256"
	policyB256Sha256    = "http://opcfoundation.org/UA/SecurityPolicy#Basic256Sha256"
)

func snmpClient(t *testing.T, configure func(*gosnmp.GoSNMP)) *gosnmp.GoSNMP {
	t.Helper()
	zoneHostPort(t, snmpAddr, 161)
	g := &gosnmp.GoSNMP{Target: snmpAddr.String(), Port: 161, Version: gosnmp.Version2c, Community: "public",
		Timeout: time.Second, Retries: 0, MaxOids: gosnmp.MaxOids}
	configure(g)
	if err := g.Connect(); err != nil {
		t.Fatalf("snmp connect: %v", err)
	}
	t.Cleanup(func() { g.Conn.Close() })
	return g
}

func snmpStrings(t *testing.T, g *gosnmp.GoSNMP, oids ...string) map[string]string {
	t.Helper()
	res, err := g.Get(oids)
	if err != nil {
		t.Fatalf("snmp get %v: %v", oids, err)
	}
	out := map[string]string{}
	for _, v := range res.Variables {
		switch x := v.Value.(type) {
		case []byte:
			out[v.Name] = string(x)
		case string:
			out[v.Name] = x
		}
	}
	return out
}

func TestPeerSNMP(t *testing.T) {
	needZone(t)
	const descr, objectID, contact, name, location = ".1.3.6.1.2.1.1.1.0", ".1.3.6.1.2.1.1.2.0", ".1.3.6.1.2.1.1.4.0", ".1.3.6.1.2.1.1.5.0", ".1.3.6.1.2.1.1.6.0"

	t.Run("v2c public reads the system group", func(t *testing.T) {
		g := snmpClient(t, func(*gosnmp.GoSNMP) {})
		got := snmpStrings(t, g, descr, contact, name, location, objectID)
		want := map[string]string{descr: wantSysDescr, contact: wantSysContact, name: wantSysName, location: wantSysLocation, objectID: wantSysObjectID}
		for oid, w := range want {
			if got[oid] != w {
				t.Errorf("%s = %q, want %q", oid, got[oid], w)
			}
		}
	})
	for _, version := range []gosnmp.SnmpVersion{gosnmp.Version1, gosnmp.Version2c} {
		t.Run("private accepted at "+version.String(), func(t *testing.T) {
			g := snmpClient(t, func(g *gosnmp.GoSNMP) { g.Community, g.Version = "private", version })
			if got := snmpStrings(t, g, name)[name]; got != wantSysName {
				t.Errorf("sysName = %q", got)
			}
		})
	}
	t.Run("a wrong community is ignored", func(t *testing.T) {
		g := snmpClient(t, func(g *gosnmp.GoSNMP) { g.Community = wrongCommunity })
		if res, err := g.Get([]string{name}); err == nil {
			t.Errorf("community %q answered: %v", wrongCommunity, res.Variables)
		}
	})
	t.Run("v3 otauth authNoPriv SHA", func(t *testing.T) {
		g := snmpClient(t, func(g *gosnmp.GoSNMP) {
			g.Version, g.SecurityModel, g.MsgFlags = gosnmp.Version3, gosnmp.UserSecurityModel, gosnmp.AuthNoPriv
			g.SecurityParameters = &gosnmp.UsmSecurityParameters{UserName: "otauth", AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass123"}
		})
		if got := snmpStrings(t, g, name)[name]; got != wantSysName {
			t.Errorf("sysName = %q", got)
		}
	})
	t.Run("v3 otpriv authPriv SHA/AES", func(t *testing.T) {
		g := snmpClient(t, func(g *gosnmp.GoSNMP) {
			g.Version, g.SecurityModel, g.MsgFlags = gosnmp.Version3, gosnmp.UserSecurityModel, gosnmp.AuthPriv
			g.SecurityParameters = &gosnmp.UsmSecurityParameters{UserName: "otpriv", AuthenticationProtocol: gosnmp.SHA, AuthenticationPassphrase: "authpass123",
				PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: "privpass123"}
		})
		if got := snmpStrings(t, g, name)[name]; got != wantSysName {
			t.Errorf("sysName = %q", got)
		}
	})
}

// modbusHandler connects to a zone Modbus device, unit 1.
func modbusHandler(t *testing.T, addr string) *modbus.TCPClientHandler {
	t.Helper()
	h := modbus.NewTCPClientHandler(addr)
	h.Timeout, h.SlaveId = 2*time.Second, 1
	if err := h.Connect(); err != nil {
		t.Fatalf("modbus %s: %v", addr, err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// rawPDU sends one request PDU and returns the response PDU (whose function
// code has bit 7 set for an exception).
func rawPDU(t *testing.T, h *modbus.TCPClientHandler, fc byte, data ...byte) *modbus.ProtocolDataUnit {
	t.Helper()
	adu, err := h.Encode(&modbus.ProtocolDataUnit{FunctionCode: fc, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := h.Send(adu)
	if err != nil {
		t.Fatalf("modbus %s fc %d: %v", h.Address, fc, err)
	}
	if err := h.Verify(adu, resp); err != nil {
		t.Fatalf("modbus %s fc %d: %v", h.Address, fc, err)
	}
	pdu, err := h.Decode(resp)
	if err != nil {
		t.Fatalf("modbus %s fc %d: %v", h.Address, fc, err)
	}
	return pdu
}

// deviceIDObjects decodes a Read Device Identification response.
func deviceIDObjects(t *testing.T, data []byte) map[byte]string {
	t.Helper()
	if len(data) < 6 || data[0] != 14 {
		t.Fatalf("FC43 response % x", data)
	}
	objs := map[byte]string{}
	n, b := int(data[5]), data[6:]
	for i := 0; i < n; i++ {
		if len(b) < 2 || len(b) < 2+int(b[1]) {
			t.Fatalf("FC43 response truncated: % x", data)
		}
		objs[b[0]] = string(b[2 : 2+int(b[1])])
		b = b[2+int(b[1]):]
	}
	return objs
}

func TestPeerModbus(t *testing.T) {
	needZone(t)
	t.Run("pymodbus holding registers", func(t *testing.T) {
		h := modbusHandler(t, zoneHostPort(t, plcAddr, 502))
		regs, err := modbus.NewClient(h).ReadHoldingRegisters(0, 4)
		if err != nil {
			t.Fatal(err)
		}
		if want := []byte{0x04, 0xd2, 0x16, 0x2e, 0x00, 0x2a, 0xbe, 0xef}; string(regs) != string(want) {
			t.Errorf("registers 0-3 = % x, want % x", regs, want)
		}
	})
	t.Run("pymodbus device identification", func(t *testing.T) {
		h := modbusHandler(t, zoneHostPort(t, plcAddr, 502))
		pdu := rawPDU(t, h, 43, 14, 1, 0) // MEI 14, basic objects, from object 0
		if pdu.FunctionCode != 43 {
			t.Fatalf("FC43: exception % x", pdu.Data)
		}
		objs := deviceIDObjects(t, pdu.Data)
		want := map[byte]string{0: wantModbusVendor, 1: wantModbusProduct, 2: wantModbusRevision}
		for k, w := range want {
			if objs[k] != w {
				t.Errorf("object %d = %q, want %q", k, objs[k], w)
			}
		}
	})
	for _, dev := range []struct {
		name string
		addr string
	}{{"libmodbus on the RTU address", zoneHostPort(t, rtuAddr, 502)}, {"libmodbus on the PLC's port 5020", zoneHostPort(t, plcAddr, 5020)}} {
		t.Run(dev.name+" rejects FC43 and answers FC17", func(t *testing.T) {
			h := modbusHandler(t, dev.addr)
			pdu := rawPDU(t, h, 43, 14, 1, 0)
			if pdu.FunctionCode != 43|0x80 || len(pdu.Data) != 1 || pdu.Data[0] != 1 {
				t.Errorf("FC43: got fc %d data % x, want exception 1 (illegal function)", pdu.FunctionCode, pdu.Data)
			}
			pdu = rawPDU(t, h, 17)
			if pdu.FunctionCode != 17 || len(pdu.Data) < 3 {
				t.Errorf("FC17: got fc %d data % x, want a server id", pdu.FunctionCode, pdu.Data)
			}
			t.Logf("FC17 answer: %q", pdu.Data)
		})
	}
}

func TestPeerOPCUA(t *testing.T) {
	needZone(t)
	type ep struct{ policy, mode string }
	for _, srv := range []struct {
		name string
		addr string
		want []ep
	}{
		{"node-opcua", zoneHostPort(t, opcAddr, 4840), []ep{{policyNone, "None"}, {policyB256Sha256, "Sign"}, {policyB256Sha256, "SignAndEncrypt"}}},
		{"weak node-opcua", zoneHostPort(t, weakOPCAddr, 4840), []ep{{policyNone, "None"},
			{policyBasic128Rsa15, "Sign"}, {policyBasic128Rsa15, "SignAndEncrypt"}, {policyBasic256, "Sign"}, {policyBasic256, "SignAndEncrypt"},
			{policyB256Sha256, "Sign"}, {policyB256Sha256, "SignAndEncrypt"}}},
	} {
		t.Run(srv.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			eps, err := opcua.GetEndpoints(ctx, "opc.tcp://"+srv.addr)
			if err != nil {
				t.Fatalf("GetEndpoints %s: %v", srv.addr, err)
			}
			var got []ep
			var none *ua.EndpointDescription
			for _, e := range eps {
				mode := strings.TrimPrefix(e.SecurityMode.String(), "MessageSecurityMode")
				got = append(got, ep{e.SecurityPolicyURI, mode})
				if e.SecurityPolicyURI == policyNone {
					none = e
				}
				anonymous := false
				for _, tok := range e.UserIdentityTokens {
					anonymous = anonymous || tok.TokenType == ua.UserTokenTypeAnonymous
				}
				if !anonymous {
					t.Errorf("%s %s offers no anonymous token", e.SecurityPolicyURI, mode)
				}
			}
			key := func(e ep) string { return e.policy + " " + e.mode }
			var g, w []string
			for _, e := range got {
				g = append(g, key(e))
			}
			for _, e := range srv.want {
				w = append(w, key(e))
			}
			sort.Strings(g)
			sort.Strings(w)
			if strings.Join(g, "\n") != strings.Join(w, "\n") {
				t.Errorf("endpoints\n got %q\nwant %q", g, w)
			}
			if none == nil {
				t.Fatal("no None endpoint")
			}
			cert, err := x509.ParseCertificate(none.ServerCertificate)
			if err != nil {
				t.Fatalf("server certificate: %v", err)
			}
			// Signed by its own key (CheckSignatureFrom would also demand a CA
			// certificate, which an application instance certificate is not).
			if cert.Subject.String() != cert.Issuer.String() || cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature) != nil {
				t.Errorf("server certificate is not self-signed: subject %q issuer %q", cert.Subject, cert.Issuer)
			}

			// Anonymous session over None: BuildInfo (reads only).
			c, err := opcua.NewClient(none.EndpointURL, opcua.SecurityFromEndpoint(none, ua.UserTokenTypeAnonymous), opcua.AuthAnonymous(), opcua.AutoReconnect(false))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Connect(ctx); err != nil {
				t.Fatalf("anonymous session: %v", err)
			}
			defer c.Close(context.Background())
			const productName, manufacturer, softwareVersion = 2261, 2263, 2264
			req := &ua.ReadRequest{TimestampsToReturn: ua.TimestampsToReturnNeither}
			for _, n := range []uint32{productName, manufacturer, softwareVersion} {
				req.NodesToRead = append(req.NodesToRead, &ua.ReadValueID{NodeID: ua.NewNumericNodeID(0, n), AttributeID: ua.AttributeIDValue})
			}
			resp, err := c.Read(ctx, req)
			if err != nil {
				t.Fatalf("read BuildInfo: %v", err)
			}
			want := []string{wantOPCProduct, wantOPCManufacturer, wantOPCVersion}
			for i, r := range resp.Results {
				if r.Value == nil || r.Value.Value() != want[i] {
					t.Errorf("BuildInfo node %d = %v (%v), want %q", req.NodesToRead[i].NodeID.IntID(), r.Value, r.Status, want[i])
				}
			}
		})
	}
}

func TestPeerHostile(t *testing.T) {
	needZone(t)
	t.Run("mute device accepts and never answers", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", zoneHostPort(t, muteAddr, 502), 2*time.Second)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer conn.Close()
		if _, err := conn.Write(mbap(1, 1, 3, 0, 0, 0, 1)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := conn.Read(make([]byte, 64))
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("read from the mute device: %d bytes, %v; want nothing until the deadline", n, err)
		}
	})
	t.Run("dead address", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", zoneHostPort(t, deadAddr, 502), time.Second)
		if err == nil {
			conn.Close()
			t.Fatalf("%s answered", deadAddr)
		}
	})
}

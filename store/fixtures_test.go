package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

// openTest opens a fresh writable store in a temp dir and closes it at the
// end of the test.
func openTest(t testing.TB, opts Options) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "otaudit.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func beginScan(t testing.TB, db *DB, zone string) otaudit.Scan {
	t.Helper()
	s := otaudit.Scan{Zone: zone, Mode: "passive", Sources: []string{"pcap:plant.pcap"}}
	if err := db.BeginScan(context.Background(), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// realisticObservations makes n observations with the mix a plant capture
// gives: mostly flows and operations, some hosts, a few identities, secure
// channels, remote sessions and credentials (fingerprints only).
func realisticObservations(n int, seed uint64) []otaudit.Observation {
	r := rand.New(rand.NewPCG(seed, 1))
	protos := []string{"modbus", "s7comm", "enip", "dnp3", "http", "opcua", "snmp", "telnet"}
	out := make([]otaudit.Observation, n)
	for i := range out {
		client, server := addr(r.IntN(400)), addr(1000+r.IntN(60))
		first := t0.Add(time.Duration(r.IntN(3600)) * time.Second)
		o := otaudit.Observation{
			Source: "pcap:plant.pcap", FirstSeen: first, LastSeen: first.Add(time.Duration(r.IntN(600)) * time.Second),
			Count: int64(1 + r.IntN(5000)), FirstFrame: int64(1 + r.IntN(2_000_000)),
		}
		proto := protos[r.IntN(len(protos))]
		switch k := r.IntN(100); {
		case k < 45:
			o.Kind = otaudit.KindFlow
			o.Flow = &otaudit.Flow{Client: client, Server: server, Transport: otaudit.TCP, ServerPort: uint16(502 + r.IntN(100)),
				Protocol: proto, ServerAnswered: r.IntN(4) > 0, Connections: int64(r.IntN(50)), Packets: int64(r.IntN(90000)),
				BytesToServer: int64(r.IntN(1 << 24)), BytesToClient: int64(r.IntN(1 << 24))}
		case k < 75:
			o.Kind = otaudit.KindOperation
			o.Operation = &otaudit.Operation{Protocol: proto, Client: client, Server: server, Unit: r.IntN(248), Function: r.IntN(128),
				Name: "read_holding_registers", Class: otaudit.OpRead, Requests: int64(r.IntN(10000)), Responses: int64(r.IntN(10000))}
		case k < 90:
			o.Kind = otaudit.KindHost
			o.Host = &otaudit.HostSighting{IP: client, MAC: fmt.Sprintf("00:1d:9c:%02x:%02x:%02x", r.IntN(256), r.IntN(256), r.IntN(256)),
				MACVendor: "Rockwell Automation", VLAN: uint16(r.IntN(10)), Packets: int64(r.IntN(1e6)), Bytes: int64(r.IntN(1e9))}
		case k < 94:
			o.Kind = otaudit.KindIdentity
			o.Identity = &otaudit.DeviceIdentity{IP: server, Method: "modbus-fc43", Vendor: "Schneider Electric", ProductCode: "BMX P34 2020",
				Model: "M340", Firmware: fmt.Sprintf("v3.%d", r.IntN(30))}
		case k < 97:
			o.Kind = otaudit.KindSecureChannel
			o.SecureChannel = &otaudit.SecureChannel{Protocol: "opcua", Client: client, Server: server,
				Policy: "http://opcfoundation.org/UA/SecurityPolicy#None", Endpoint: "opc.tcp://" + server.String() + ":4840"}
		case k < 99:
			o.Kind = otaudit.KindRemoteSession
			o.RemoteSession = &otaudit.RemoteSession{Protocol: "rdp", Client: client, Server: server, ServerPort: 3389,
				Start: first, End: o.LastSeen, BytesToServer: int64(r.IntN(1e7)), BytesToClient: int64(r.IntN(1e8)), Encrypted: true}
		default:
			o.Kind = otaudit.KindCredential
			o.Credential = &otaudit.Credential{Protocol: "telnet", Client: client, Server: server, User: "admin",
				Fingerprint: fmt.Sprintf("hmac-sha256:%032x", r.Uint64()), KnownDefault: r.IntN(2) == 0, Outcome: "success"}
		}
		out[i] = o
	}
	return out
}

var severities = []otaudit.Severity{otaudit.SeverityInfo, otaudit.SeverityLow, otaudit.SeverityMedium, otaudit.SeverityHigh, otaudit.SeverityCritical}

// realisticFinding is finding i of a catalog-like spread of checks.
func realisticFinding(i int) otaudit.Finding {
	checks := []struct {
		id  string
		obj otaudit.Objective
	}{{"AC-CLEARTEXT-LOGIN", otaudit.ObjectiveAC}, {"SI-UNAUTH-WRITE", otaudit.ObjectiveSI}, {"AM-UNREGISTERED-ASSET", otaudit.ObjectiveAM},
		{"DC-CLEARTEXT-CONTROL", otaudit.ObjectiveDC}, {"AC-DEFAULT-SNMP-COMMUNITY", otaudit.ObjectiveAC}}
	c := checks[i%len(checks)]
	asset := otaudit.AssetKey(addr(i / len(checks)))
	f := otaudit.Finding{
		CheckID: c.id, Title: "Finding " + c.id, Objective: c.obj, Severity: severities[i%len(severities)],
		Refs: otaudit.Refs{SR: []otaudit.SRRef{{ID: "SR 1.1", SL: 1}, {ID: "SR 4.1", SL: 1}}, ATTACK: []string{"T0859"}},
		Zone: []string{"cell-1", "cell-2", "dmz"}[i%3], AssetKey: asset, Key: fmt.Sprintf("client:%s", addr(i%97)),
		Summary:     "Telnet login in clear from an engineering host to a PLC",
		Remediation: "Disable Telnet on the device and use the vendor's secure engineering protocol.",
		Evidence: []otaudit.Evidence{{Source: "pcap:plant.pcap", Kind: "credential", Detail: "telnet login user=admin",
			Client: addr(i % 97).String(), Server: addr(i / len(checks)).String(), Count: 3, FirstFrame: 1234, FirstSeen: t0, LastSeen: t0.Add(time.Hour)}},
		FirstSeen: t0, LastSeen: t0.Add(time.Hour),
	}
	f.ID = otaudit.FindingID(f.CheckID, f.AssetKey, f.Key)
	return f
}

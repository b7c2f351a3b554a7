package checks

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
)

// Observation fixtures. Addresses: 10.1.0.0/24 is the zone, 10.2.0.0/24 a
// declared peer zone, 172.16.9.0/24 undeclared enterprise space and
// 8.8.8.8 / 1.1.1.1 the public internet.

var t0 = time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func cellZone() otaudit.Zone {
	return otaudit.Zone{
		Name:        "cell-1",
		CIDRs:       []netip.Prefix{netip.MustParsePrefix("10.1.0.0/24")},
		PurdueLevel: 2,
		SLTarget:    otaudit.SLVector{2, 2, 2, 1, 2, 2, 1},
		Conduits: []otaudit.Conduit{{
			Name: "scada-link", PeerZone: "scada", PeerCIDRs: []netip.Prefix{netip.MustParsePrefix("10.2.0.0/24")},
			Protocols: []string{"modbus", "opcua"}, SLTarget: otaudit.SLVector{2, 2, 2, 1, 2, 2, 1},
		}},
	}
}

// openZone is the embedded default: no CIDRs, so no boundary.
func openZone() otaudit.Zone { return otaudit.Zone{Name: "default", PurdueLevel: -1} }

func obs(kind otaudit.ObservationKind, frame int64, o otaudit.Observation) otaudit.Observation {
	o.Kind, o.Source, o.FirstFrame, o.Count = kind, "pcap:test.pcap", frame, max(o.Count, 1)
	o.FirstSeen = t0.Add(time.Duration(frame) * time.Second)
	o.LastSeen = o.FirstSeen.Add(time.Minute)
	return o
}

func flow(client, server, proto string, port uint16, answered bool) otaudit.Observation {
	tr := otaudit.TCP
	if proto == "snmp" || proto == "tftp" || proto == "mdns" || proto == "ssdp" || proto == "llmnr" || proto == "ike" {
		tr = otaudit.UDP
	}
	return obs(otaudit.KindFlow, int64(port), otaudit.Observation{Flow: &otaudit.Flow{
		Client: addr(client), Server: addr(server), Transport: tr, ServerPort: port, Protocol: proto,
		ServerAnswered: answered, Connections: 2, Packets: 20, BytesToServer: 800, BytesToClient: 900,
	}})
}

func op(proto, client, server string, class otaudit.OperationClass, fn int, name string, requests int64) otaudit.Observation {
	return obs(otaudit.KindOperation, int64(fn), otaudit.Observation{Count: requests, Operation: &otaudit.Operation{
		Protocol: proto, Client: addr(client), Server: addr(server), Unit: 1, Function: fn, Name: name,
		Class: class, Requests: requests, Responses: requests,
	}})
}

func cred(proto, client, server, user, fp string, knownDefault bool, outcome string) otaudit.Observation {
	return obs(otaudit.KindCredential, 7, otaudit.Observation{Credential: &otaudit.Credential{
		Protocol: proto, Client: addr(client), Server: addr(server), User: user, Fingerprint: fp,
		KnownDefault: knownDefault, Outcome: outcome,
	}})
}

func snmpCred(client, server, version, fp string, knownDefault bool) otaudit.Observation {
	o := cred("snmp", client, server, "", fp, knownDefault, "")
	o.Credential.Detail = version
	return o
}

func session(proto, client, server string, port uint16, d time.Duration, encrypted bool) otaudit.Observation {
	return obs(otaudit.KindRemoteSession, 11, otaudit.Observation{RemoteSession: &otaudit.RemoteSession{
		Protocol: proto, Client: addr(client), Server: addr(server), ServerPort: port,
		Start: t0, End: t0.Add(d), Encrypted: encrypted, BytesToServer: 4000, BytesToClient: 90000,
	}})
}

func channel(proto, client, server, policy string, protected bool) otaudit.Observation {
	return obs(otaudit.KindSecureChannel, 13, otaudit.Observation{SecureChannel: &otaudit.SecureChannel{
		Protocol: proto, Client: addr(client), Server: addr(server), Policy: policy, Protected: protected,
	}})
}

func lookup(client, server, name, tool string) otaudit.Observation {
	return obs(otaudit.KindNameLookup, 17, otaudit.Observation{NameLookup: &otaudit.NameLookup{
		Client: addr(client), Server: addr(server), Name: name, Tool: tool,
	}})
}

func host(ip, mac, vendor string) otaudit.Observation {
	return obs(otaudit.KindHost, 1, otaudit.Observation{Host: &otaudit.HostSighting{
		IP: addr(ip), MAC: mac, MACVendor: vendor, Packets: 10, Bytes: 1000,
	}})
}

// linkIdentity is an LLDP announcement from a MAC never seen with an address.
func linkIdentity(mac, name, model string) otaudit.Observation {
	return obs(otaudit.KindIdentity, 1, otaudit.Observation{Identity: &otaudit.DeviceIdentity{
		Method: "lldp", MAC: mac, Name: name, Model: model,
	}})
}

func identity(ip, vendor, model, firmware string) otaudit.Observation {
	return obs(otaudit.KindIdentity, 3, otaudit.Observation{Identity: &otaudit.DeviceIdentity{
		IP: addr(ip), Method: "modbus-fc43", Vendor: vendor, Model: model, Firmware: firmware,
	}})
}

// fixture builds an Input the way the agent would: assets merged from the
// observations, placed in the zone by its CIDRs and matched to its register.
type fixture struct {
	zone      otaudit.Zone
	obs       []otaudit.Observation
	roles     map[string]string // ip → Role
	collected []string          // default: pcap
}

func (f fixture) input() Input {
	assets := map[netip.Addr]*otaudit.Asset{}
	get := func(a netip.Addr) *otaudit.Asset {
		a = a.Unmap()
		if !a.IsValid() {
			return nil
		}
		x, ok := assets[a]
		if !ok {
			x = &otaudit.Asset{Key: otaudit.AssetKey(a), IP: a, FirstSeen: t0, LastSeen: t0}
			if f.zone.Contains(a) {
				x.Zone = f.zone.Name
			}
			x.Role = f.roles[a.String()]
			assets[a] = x
		}
		return x
	}
	linkOnly := map[string]*otaudit.Asset{}
	addService := func(list *[]otaudit.Service, s otaudit.Service) {
		if !slices.Contains(*list, s) {
			*list = append(*list, s)
		}
	}
	for _, o := range f.obs {
		switch {
		case o.Flow != nil:
			c, s := get(o.Flow.Client), get(o.Flow.Server)
			svc := otaudit.Service{Protocol: o.Flow.Protocol, Transport: o.Flow.Transport, Port: o.Flow.ServerPort}
			if o.Flow.ServerAnswered {
				addService(&s.Services, svc)
			}
			addService(&c.Uses, svc)
		case o.Operation != nil:
			get(o.Operation.Client)
			get(o.Operation.Server)
		case o.Credential != nil:
			get(o.Credential.Client)
			get(o.Credential.Server)
		case o.RemoteSession != nil:
			get(o.RemoteSession.Client)
			get(o.RemoteSession.Server)
		case o.SecureChannel != nil:
			get(o.SecureChannel.Client)
			get(o.SecureChannel.Server)
		case o.Host != nil:
			x := get(o.Host.IP)
			if !slices.Contains(x.MACs, o.Host.MAC) {
				x.MACs = append(x.MACs, o.Host.MAC)
			}
			x.MACVendor = o.Host.MACVendor
		case o.Identity != nil && !o.Identity.IP.IsValid():
			// Announced on the link by a MAC never seen with an address.
			x := linkOnly[o.Identity.MAC]
			if x == nil {
				x = &otaudit.Asset{Key: otaudit.MACAssetKey(o.Identity.MAC), MACs: []string{o.Identity.MAC}, Zone: f.zone.Name,
					FirstSeen: t0, LastSeen: t0}
				linkOnly[o.Identity.MAC] = x
			}
			x.Name, x.Model = o.Identity.Name, o.Identity.Model
		case o.Identity != nil:
			x := get(o.Identity.IP)
			x.Vendor, x.Model, x.Firmware = o.Identity.Vendor, o.Identity.Model, o.Identity.Firmware
		}
	}
	in := Input{Zone: f.zone, Observations: f.obs, Collected: map[string]bool{}}
	for _, a := range linkOnly {
		if _, ok := f.zone.Lookup(a.IP, a.MACs); ok {
			a.Registered = true
		}
		in.Assets = append(in.Assets, *a)
	}
	for _, a := range assets {
		if _, ok := f.zone.Lookup(a.IP, a.MACs); ok {
			a.Registered = true
		}
		in.Assets = append(in.Assets, *a)
	}
	slices.SortFunc(in.Assets, func(a, b otaudit.Asset) int { return cmp.Or(a.IP.Compare(b.IP), strings.Compare(a.Key, b.Key)) })
	collected := f.collected
	if collected == nil {
		collected = []string{"pcap"}
	}
	for _, c := range collected {
		in.Collected[c] = true
	}
	return in
}

// run evaluates the fixture and returns one check's findings and result.
func run(t *testing.T, f fixture, checkID string) ([]otaudit.Finding, otaudit.CheckResult, Report) {
	t.Helper()
	rep := Evaluate(f.input())
	var fs []otaudit.Finding
	for _, x := range rep.Findings {
		if x.CheckID == checkID {
			fs = append(fs, x)
		}
	}
	for _, r := range rep.Results {
		if r.CheckID == checkID {
			return fs, r, rep
		}
	}
	t.Fatalf("no result for %s", checkID)
	return nil, otaudit.CheckResult{}, rep
}

func register(ips ...string) []otaudit.RegisteredAsset {
	var out []otaudit.RegisteredAsset
	for _, ip := range ips {
		out = append(out, otaudit.RegisteredAsset{IP: addr(ip)})
	}
	return out
}

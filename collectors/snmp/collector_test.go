package snmp

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// received is one message the fake agent got.
type received struct {
	version   gosnmp.SnmpVersion
	community string
	pduType   gosnmp.PDUType
}

// fakeAgent is an SNMP agent on 127.0.0.1:0 that answers v1/v2c Get,
// GetNext and GetBulk from a table for its communities (comma-separated
// in community), drops other
// communities silently (as real agents do), answers a v3 engine discovery
// with a Report and any other v3 request with usmStatsUnknownUserNames.
type fakeAgent struct {
	pc        *net.UDPConn
	community string
	engineID  string
	oids      []string // sorted
	values    map[string]gosnmp.SnmpPDU
	// onlyV1 drops v2c and v3 requests, as an old v1-only agent would.
	onlyV1 bool
	mu     sync.Mutex
	got    []received
}

func startAgent(t *testing.T, community string, table []gosnmp.SnmpPDU, opts ...func(*fakeAgent)) *fakeAgent {
	t.Helper()
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{pc: pc, community: community, engineID: "\x80\x00\x10\xe9\x03\x00\x08\x74\x0a\x0b\x0c", values: map[string]gosnmp.SnmpPDU{}}
	for _, v := range table {
		a.values[v.Name] = v
		a.oids = append(a.oids, v.Name)
	}
	sort.Slice(a.oids, func(i, j int) bool { return compareOIDs(a.oids[i], a.oids[j]) < 0 })
	for _, o := range opts {
		o(a)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if resp := a.handle(buf[:n]); resp != nil {
				_, _ = pc.WriteToUDP(resp, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return a
}

func (a *fakeAgent) port() uint16 { return uint16(a.pc.LocalAddr().(*net.UDPAddr).Port) }

func (a *fakeAgent) received() []received {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.got)
}

func (a *fakeAgent) handle(b []byte) []byte {
	_, msg, _, err := tlv(b)
	if err != nil {
		return nil
	}
	_, ver, _, err := tlv(msg)
	if err != nil || len(ver) != 1 {
		return nil
	}
	if a.onlyV1 && ver[0] != 0 {
		return nil
	}
	if ver[0] == 3 {
		dec := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.NoAuthNoPriv,
			SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "-"}}
		req, err := dec.SnmpDecodePacket(b)
		if err != nil {
			return nil
		}
		a.record(received{version: gosnmp.Version3, pduType: req.PDUType})
		report := ".1.3.6.1.6.3.15.1.1.3.0" // usmStatsUnknownUserNames
		if usm, ok := req.SecurityParameters.(*gosnmp.UsmSecurityParameters); ok && usm.UserName == "" {
			report = ".1.3.6.1.6.3.15.1.1.4.0" // usmStatsUnknownEngineIDs: the discovery answer
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version3, MsgFlags: gosnmp.NoAuthNoPriv, SecurityModel: gosnmp.UserSecurityModel,
			SecurityParameters: &gosnmp.UsmSecurityParameters{AuthoritativeEngineID: a.engineID, AuthoritativeEngineBoots: 3, AuthoritativeEngineTime: 777},
			ContextEngineID:    a.engineID, PDUType: gosnmp.Report, MsgID: req.MsgID, RequestID: req.RequestID,
			Variables: []gosnmp.SnmpPDU{{Name: report, Type: gosnmp.Counter32, Value: uint32(1)}}}
		out, err := resp.MarshalMsg()
		if err != nil {
			return nil
		}
		return out
	}
	req, err := (&gosnmp.GoSNMP{}).SnmpDecodePacket(b)
	if err != nil {
		return nil
	}
	a.record(received{version: req.Version, community: req.Community, pduType: req.PDUType})
	if !slices.Contains(strings.Split(a.community, ","), req.Community) {
		return nil
	}
	resp := &gosnmp.SnmpPacket{Version: req.Version, Community: req.Community, PDUType: gosnmp.GetResponse, RequestID: req.RequestID}
	switch req.PDUType {
	case gosnmp.GetRequest:
		for _, v := range req.Variables {
			if val, ok := a.values[v.Name]; ok {
				resp.Variables = append(resp.Variables, val)
			} else {
				resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: v.Name, Type: gosnmp.NoSuchObject})
			}
		}
	case gosnmp.GetNextRequest:
		for _, v := range req.Variables {
			resp.Variables = append(resp.Variables, a.next(v.Name))
		}
	case gosnmp.GetBulkRequest:
		cur := make([]string, len(req.Variables))
		for i, v := range req.Variables {
			cur[i] = v.Name
		}
		for r := 0; r < int(req.MaxRepetitions); r++ {
			for i := range cur {
				n := a.next(cur[i])
				resp.Variables = append(resp.Variables, n)
				cur[i] = n.Name
			}
		}
	default:
		return nil
	}
	out, err := resp.MarshalMsg()
	if err != nil {
		return nil
	}
	return out
}

func (a *fakeAgent) next(oid string) gosnmp.SnmpPDU {
	for _, o := range a.oids {
		if compareOIDs(o, oid) > 0 {
			return a.values[o]
		}
	}
	return gosnmp.SnmpPDU{Name: oid, Type: gosnmp.EndOfMibView}
}

func (a *fakeAgent) record(r received) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, r)
}

func octets(name, v string) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.OctetString, Value: []byte(v)}
}

func integer(name string, v int) gosnmp.SnmpPDU {
	return gosnmp.SnmpPDU{Name: name, Type: gosnmp.Integer, Value: v}
}

// scalance is the testbed's snmpd data plus an interface and an
// ENTITY-MIB chassis row.
var scalance = []gosnmp.SnmpPDU{
	octets(oidSysDescr, "Siemens, SIMATIC NET, SCALANCE X208, HW: Version 3, FW: Version V4.1.4"),
	{Name: oidSysObjectID, Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.4.1.4329.6.1.2"},
	{Name: oidSysUpTime, Type: gosnmp.TimeTicks, Value: uint32(4711)},
	octets(oidSysContact, "ot-admin@plant.example"),
	octets(oidSysName, "SCALANCE-X208-L1"),
	octets(oidSysLocation, "Plant-A Hall-3 Cabinet-7"),
	octets(oidIfDescr+".1", "Port 1"),
	octets(oidIfDescr+".2", "Port 2"),
	{Name: oidIfPhysAddr + ".1", Type: gosnmp.OctetString, Value: []byte{0x00, 0x1b, 0x1b, 0x01, 0x02, 0x03}},
	{Name: oidIfPhysAddr + ".2", Type: gosnmp.OctetString, Value: []byte{0x00, 0x1b, 0x1b, 0x01, 0x02, 0x04}},
	integer(oidIfOperStatus+".1", 1),
	integer(oidIfOperStatus+".2", 2),
	integer(oidEntPhysical+".5.1", 3),
	octets(oidEntPhysical+".9.1", "V4.1.4"),
	octets(oidEntPhysical+".11.1", "VPJ1234567"),
	octets(oidEntPhysical+".12.1", "Siemens AG"),
	octets(oidEntPhysical+".13.1", "6GK5208-0BA00-2AA3"),
	// The VACM of "rwcommunity private": its group may write.
	octets(oidCommunityName+".1.49", "private"),
	octets(oidCommunitySecName+".1.49", "comm1"),
	octets(oidVacmGroupName+".2.5.99.111.109.109.49", "grpcomm1"),
	octets(oidVacmWriteView+".8.103.114.112.99.111.109.109.49.0.0.1", "_all_"),
	integer(oidVacmViewType+".5.95.97.108.108.95.1.1", 1),
}

func TestProbeFindsCommunityWithinBudgetAndReadsIdentity(t *testing.T) {
	agent := startAgent(t, "private", scalance)
	judge := otaudit.CredentialJudge{Key: []byte("test-key"), Defaults: map[string][]string{"snmp": {"public", "private", "community"}}}
	c := New(Config{Port: agent.port(), Judge: judge,
		Communities:        []otaudit.Secret{otaudit.NewSecret("s3cret-site")},
		DefaultCommunities: []string{"public", "private", "community"},
		Now:                func() time.Time { return time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC) }})
	l := active.DefaultLimits()
	l.Timeout, l.Retries, l.MaxAttemptsPerDevice = 200*time.Millisecond, 0, 2
	target := active.Target{Addr: mustAddr("127.0.0.1")}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))))
	var obs []otaudit.Observation
	rep := s.Run(context.Background(), []active.Target{target}, []active.Prober{c}, func(o otaudit.Observation) { obs = append(obs, o) })
	if len(rep.Errors) != 0 {
		t.Fatalf("errors: %+v", rep.Errors)
	}

	got := agent.received()
	var communities []string
	for _, r := range got {
		if r.pduType != gosnmp.GetRequest && r.pduType != gosnmp.GetNextRequest && r.pduType != gosnmp.GetBulkRequest {
			t.Errorf("agent received a %v", r.pduType)
		}
		if r.version != gosnmp.Version3 && !slices.Contains(communities, r.community) {
			communities = append(communities, r.community)
		}
	}
	// Configured first, then defaults while the guessing budget (2)
	// lasts: the third default is never sent.
	if want := []string{"s3cret-site", "public", "private"}; !slices.Equal(communities, want) {
		t.Errorf("communities sent %q, want %q", communities, want)
	}
	v3 := 0
	for _, r := range got {
		if r.version == gosnmp.Version3 {
			v3++
		}
	}
	if v3 != 1 {
		t.Errorf("%d v3 messages, want only the engine discovery (the guessing budget is spent)", v3)
	}
	assertLedgerWithinPlan(t, s.Ledger(), active.Plan([]active.Target{target}, []active.Prober{c}, l))

	type acc struct {
		version         string
		known, accepted bool
		access          string
	}
	var accesses []acc
	engines := 0
	for _, o := range obs {
		if a := o.SNMPAccess; a != nil && a.User == "" && a.Version == "v3" {
			if a.EngineID == "800010e9030008740a0b0c" && !a.Accepted {
				engines++
			}
			continue
		}
		if a := o.SNMPAccess; a != nil {
			if a.Fingerprint == "" || a.Fingerprint == "private" {
				t.Errorf("access without a proper fingerprint: %+v", a)
			}
			accesses = append(accesses, acc{a.Version, a.KnownDefault, a.Accepted, a.Access})
		}
	}
	// The configured community is tried at v1 too, then the default
	// accepted at v2c; the VACM maps comm1 for v2c only.
	want := []acc{{"v2c", false, false, ""}, {"v2c", true, false, ""}, {"v2c", true, true, "write"}, {"v1", false, false, ""}, {"v1", true, true, "unknown"}}
	if !slices.Equal(accesses, want) {
		t.Errorf("accesses %+v\nwant %+v", accesses, want)
	}

	ids := map[string]otaudit.DeviceIdentity{}
	var macs []string
	var channels []string
	for _, o := range obs {
		if o.Source != "snmp:active" {
			t.Errorf("source %q", o.Source)
		}
		switch {
		case o.Identity != nil:
			ids[o.Identity.Method] = *o.Identity
		case o.Host != nil:
			macs = append(macs, o.Host.MAC)
		case o.SecureChannel != nil:
			channels = append(channels, o.SecureChannel.Policy)
		}
	}
	if id := ids["snmp-system"]; id.Vendor != "Siemens" || id.Model != "SCALANCE X208" || id.Firmware != "V4.1.4" || id.Name != "SCALANCE-X208-L1" {
		t.Errorf("snmp-system identity %+v", id)
	}
	if id := ids["snmp-entity"]; id.Vendor != "Siemens AG" || id.Model != "6GK5208-0BA00-2AA3" || id.Serial != "VPJ1234567" || id.Firmware != "V4.1.4" {
		t.Errorf("snmp-entity identity %+v", id)
	}
	if engines != 1 {
		t.Errorf("%d discovery accesses with engine ID 800010e9030008740a0b0c, want 1", engines)
	}
	if !slices.Equal(macs, []string{"00:1b:1b:01:02:03"}) {
		t.Errorf("MACs %v, want only the interface that is up", macs)
	}
	if !slices.Equal(channels, []string{"v2c", "v1"}) {
		t.Errorf("secure channels %v", channels)
	}
}

// An address where nothing answers costs the discovery and one community,
// not the whole guessing budget.
func TestProbeSilentAddressIsCheap(t *testing.T) {
	pc, got := listenUDP(t)
	c := New(Config{Port: uint16(pc.LocalAddr().(*net.UDPAddr).Port), DefaultCommunities: []string{"public", "private", "community"}})
	l := active.DefaultLimits()
	l.Timeout, l.Retries, l.MaxAttemptsPerDevice = 100*time.Millisecond, 0, 3
	target := active.Target{Addr: mustAddr("127.0.0.1")}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Now())))
	var obs []otaudit.Observation
	rep := s.Run(context.Background(), []active.Target{target}, []active.Prober{c}, func(o otaudit.Observation) { obs = append(obs, o) })
	// No agent is an outcome, not a device error: most of a range has none.
	if len(rep.Errors) != 0 || len(rep.Unreachable) != 0 {
		t.Fatalf("errors %+v, unreachable %v: want neither for an address without an agent", rep.Errors, rep.Unreachable)
	}
	for _, o := range obs {
		if o.Kind == otaudit.KindFlow {
			t.Errorf("SNMP service reported where nothing answered: %+v", o.Flow)
		}
	}
	if n := len(s.Ledger()); n != 2 {
		t.Errorf("%d requests to a silent address, want 2 (discovery, one community)", n)
	}
	pc.Close()
	n := 0
	for range got {
		n++
	}
	if n != 2 {
		t.Errorf("silent address received %d datagrams, want 2", n)
	}
}

// assertLedgerWithinPlan checks the ledger against the plan the way the
// session enforces it (per protocol and kind), and that every entry is
// named as the plan names it (guesses under the plan's one guesses line).
func assertLedgerWithinPlan(t *testing.T, ledger []active.LedgerEntry, plan []active.PlannedRequest) {
	t.Helper()
	budget := map[string]int{}
	details := map[string]bool{}
	guessLine := false
	for _, p := range plan {
		budget[p.Protocol+"/"+p.Kind] += p.MaxAttempts
		details[p.Detail] = true
		guessLine = guessLine || strings.HasPrefix(p.Detail, "credential guesses")
	}
	for _, e := range ledger {
		k := e.Protocol + "/" + e.Kind
		if budget[k] <= 0 {
			t.Errorf("ledger entry %s %q exceeds the plan", k, e.Detail)
		}
		budget[k]--
		if !details[e.Detail] && !(guessLine && strings.HasPrefix(e.Detail, "guess: ")) {
			t.Errorf("ledger entry %s %q is not in the plan", k, e.Detail)
		}
	}
}

// A closed port (ICMP port unreachable) ends the probe after the first
// request, without an error: the host is there, its agent is not.
func TestProbeClosedPortIsAnOutcome(t *testing.T) {
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close() // nobody listens: the kernel answers port unreachable
	c := New(Config{Port: port, Communities: []otaudit.Secret{otaudit.NewSecret("site")}, DefaultCommunities: []string{"public"}})
	l := active.DefaultLimits()
	l.Timeout, l.Retries = 2*time.Second, 1
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Now())))
	var obs []otaudit.Observation
	rep := s.Run(context.Background(), []active.Target{{Addr: mustAddr("127.0.0.1")}}, []active.Prober{c}, func(o otaudit.Observation) { obs = append(obs, o) })
	if len(rep.Errors) != 0 || len(rep.Unreachable) != 0 || len(obs) != 0 {
		t.Fatalf("errors %+v, unreachable %v, observations %+v: want nothing", rep.Errors, rep.Unreachable, obs)
	}
	if n := len(s.Ledger()); n != 1 {
		t.Errorf("%d requests after the port was reported closed, want only the first", n)
	}
}

// The agent that answered is a service of the device: a UDP flow from the
// agent's own address, counted by the requests it answered.
func TestProbeReportsTheSNMPService(t *testing.T) {
	agent := startAgent(t, "public", scalance[:6])
	c := New(Config{Port: agent.port(), Communities: []otaudit.Secret{otaudit.NewSecret("public")}, DefaultCommunities: []string{}})
	l := active.DefaultLimits()
	l.Timeout, l.Retries, l.CredentialGuessing = 200*time.Millisecond, 0, false
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Now())))
	var flows []otaudit.Observation
	rep := s.Run(context.Background(), []active.Target{{Addr: mustAddr("127.0.0.1")}}, []active.Prober{c}, func(o otaudit.Observation) {
		if o.Kind == otaudit.KindFlow {
			flows = append(flows, o)
		}
	})
	if len(rep.Errors) != 0 {
		t.Fatalf("errors %+v", rep.Errors)
	}
	if len(flows) != 1 {
		t.Fatalf("%d flows, want one", len(flows))
	}
	f := flows[0].Flow
	want := otaudit.Flow{Client: mustAddr("127.0.0.1"), Server: mustAddr("127.0.0.1"), Transport: otaudit.UDP, ServerPort: agent.port(),
		Protocol: "snmp", ServerAnswered: true, Packets: flows[0].Count}
	if *f != want || flows[0].Source != "snmp:active" {
		t.Errorf("flow %+v from %q, want %+v from snmp:active", *f, flows[0].Source, want)
	}
	// Answered: the discovery Report, the community at v2c and at v1, the
	// system group; the walks find nothing but are answered too.
	answered := 0
	for _, r := range agent.received() {
		if r.version == gosnmp.Version3 || r.community == "public" {
			answered++
		}
	}
	if flows[0].Count != int64(answered) {
		t.Errorf("flow count %d, the agent answered %d requests", flows[0].Count, answered)
	}
}

// The plan is a realistic bound: one request per configured community and
// version, the zone's guessing budget once (not per version), and the
// walks bounded by rows per request.
func TestPlanIsATightBound(t *testing.T) {
	c := New(Config{Communities: []otaudit.Secret{otaudit.NewSecret("site")},
		V3Users: []V3User{{Name: "otauth", AuthProtocol: "SHA", AuthPassword: otaudit.NewSecret("x")}}})
	l := active.Limits{Retries: 1, CredentialGuessing: true, MaxAttemptsPerDevice: 3}
	per := map[string]int{}
	for _, r := range c.Plan(active.Target{Addr: mustAddr("10.0.0.5")}, l) {
		per[r.Kind] += r.MaxAttempts
	}
	// get: discovery 2, site at v2c and v1, the defaults accepted at v2c
	// again at v1 (at most the 3 guesses), 3 guesses, otauth 2, system
	// group 2.
	if want := 2 + 2 + 3 + 3 + 2 + 2; per["get"] != want {
		t.Errorf("plan allows %d gets, want %d", per["get"], want)
	}
	// getbulk: six walks of 64 rows, 16 per page and one to see the end,
	// plus one shared retry; getnext: six walks of 16 rows at v1.
	if want := 6*5 + 1; per["getbulk"] != want {
		t.Errorf("plan allows %d getbulk, want %d", per["getbulk"], want)
	}
	if want := 6*(v1MaxRows+1) + 1; per["getnext"] != want {
		t.Errorf("plan allows %d getnext, want %d", per["getnext"], want)
	}
	l.CredentialGuessing = false
	for _, r := range c.Plan(active.Target{Addr: mustAddr("10.0.0.5")}, l) {
		if strings.Contains(r.Detail, "guess") {
			t.Errorf("guessing off, yet planned %+v", r)
		}
	}
}

// A v1-only agent is walked with GETNEXT, at most v1MaxRows rows a table,
// within the plan; a VACM it could not read to the end gives "unknown"
// write access, never a "read" that a missing row could contradict.
func TestV1WalksAreBoundedAndTruncationIsUnknown(t *testing.T) {
	table := slices.Clone(scalance[:6])
	for i := 1; i <= 40; i++ {
		idx := "." + strconv.Itoa(i)
		table = append(table, octets(oidIfDescr+idx, "port"+idx), integer(oidIfOperStatus+idx, 2))
	}
	// VACM: comm1 in group grp, whose write view "w" is included — but
	// only in the view table's 21st row, beyond what the v1 walk reads.
	table = append(table,
		octets(oidCommunityName+".1.49", "public"),
		octets(oidCommunitySecName+".1.49", "comm1"),
		octets(oidVacmGroupName+".1.5.99.111.109.109.49", "grp"),
		octets(oidVacmWriteView+".3.103.114.112.0.1.1", "w"),
		integer(oidVacmViewType+".1.119.1.1", 1))
	for i := 1; i <= 20; i++ {
		table = append(table, integer(oidVacmViewType+".1.118.1."+strconv.Itoa(i), 1))
	}
	agent := startAgent(t, "public", table, func(a *fakeAgent) { a.onlyV1 = true })
	c := New(Config{Port: agent.port(), Communities: []otaudit.Secret{otaudit.NewSecret("public")}, DefaultCommunities: []string{}})
	l := active.DefaultLimits()
	l.Timeout, l.Retries, l.CredentialGuessing = 200*time.Millisecond, 1, false
	target := active.Target{Addr: mustAddr("127.0.0.1")}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Now())))
	var accesses []otaudit.SNMPAccess
	rep := s.Run(context.Background(), []active.Target{target}, []active.Prober{c}, func(o otaudit.Observation) {
		if o.SNMPAccess != nil && o.SNMPAccess.Accepted {
			accesses = append(accesses, *o.SNMPAccess)
		}
	})
	if len(rep.Errors) != 0 {
		t.Fatalf("errors %+v", rep.Errors)
	}
	assertLedgerWithinPlan(t, s.Ledger(), active.Plan([]active.Target{target}, []active.Prober{c}, l))
	ifWalk := 0
	for _, e := range s.Ledger() {
		if e.Kind == "getbulk" {
			t.Errorf("GETBULK sent to a v1 agent")
		}
		if e.Detail == detailInterfaces {
			ifWalk++
		}
	}
	if ifWalk != v1MaxRows+1 {
		t.Errorf("ifTable walk sent %d GETNEXT, want %d (the row cap and one to see more)", ifWalk, v1MaxRows+1)
	}
	if len(accesses) != 1 || accesses[0].Version != "v1" || accesses[0].Access != "unknown" {
		t.Errorf("accepted accesses %+v: want v1 with unknown access (the view table was cut short before the write view, where a read-only verdict would be wrong)", accesses)
	}
}

// TestProbeReportsEveryAcceptedDefault: an agent that takes both a read
// and a write default shows both, within the guessing budget; each is
// asked again at v1 without spending a guess, and the ledger stays in the
// plan.
func TestProbeReportsEveryAcceptedDefault(t *testing.T) {
	agent := startAgent(t, "public,private", scalance)
	judge := otaudit.CredentialJudge{Key: []byte("test-key"), Defaults: map[string][]string{"snmp": {"public", "private", "community"}}}
	c := New(Config{Port: agent.port(), Judge: judge, DefaultCommunities: []string{"public", "private", "community"}})
	l := active.DefaultLimits()
	l.Timeout, l.Retries, l.MaxAttemptsPerDevice = 200*time.Millisecond, 0, 2
	target := active.Target{Addr: mustAddr("127.0.0.1")}
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))))
	var obs []otaudit.Observation
	s.Run(context.Background(), []active.Target{target}, []active.Prober{c}, func(o otaudit.Observation) { obs = append(obs, o) })
	fp := func(v string) string { f, _ := judge.Judge("snmp", []byte(v)); return f }
	accepted := map[string]bool{}
	for _, o := range obs {
		if a := o.SNMPAccess; a != nil && a.Accepted && a.Version != "v3" {
			accepted[a.Version+" "+map[string]string{fp("public"): "public", fp("private"): "private"}[a.Fingerprint]] = true
		}
	}
	for _, want := range []string{"v2c public", "v2c private", "v1 public", "v1 private"} {
		if !accepted[want] {
			t.Errorf("%s not reported accepted; accepted: %v", want, accepted)
		}
	}
	for _, r := range agent.received() {
		if r.community == "community" {
			t.Error("a third default was guessed beyond the budget of 2")
		}
	}
	assertLedgerWithinPlan(t, s.Ledger(), active.Plan([]active.Target{target}, []active.Prober{c}, l))
}

// TestSilenceWait: a credential check waits the full timeout until the
// agent has answered something, then ten times its slowest answer, never
// less than 500 ms nor more than the timeout.
func TestSilenceWait(t *testing.T) {
	limit := 3 * time.Second
	for _, c := range []struct {
		answered bool
		slowest  time.Duration
		want     time.Duration
	}{
		{false, 0, limit},
		{false, 10 * time.Millisecond, limit},
		{true, 0, limit},
		{true, time.Millisecond, 500 * time.Millisecond},
		{true, 120 * time.Millisecond, 1200 * time.Millisecond},
		{true, time.Second, limit},
	} {
		p := &probe{answered: c.answered, slowest: c.slowest}
		if got := p.silenceWait(limit); got != c.want {
			t.Errorf("answered %v slowest %v: wait %v, want %v", c.answered, c.slowest, got, c.want)
		}
	}
}

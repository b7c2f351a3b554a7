package arpsweep

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
)

// fakeNetwork is one attached /24 (10.0.0.0/24 from 10.0.0.2 on eth0).
// Hosts answer ARP with their MAC after `delay`; dropFirst hosts ignore
// their first request.
type fakeNetwork struct {
	hosts     map[netip.Addr]string
	dropFirst map[netip.Addr]bool
	openErr   error
	// extra are unsolicited ARP senders heard when the link opens.
	extra map[netip.Addr]string
	// twin answers requests for an address too (an address conflict).
	twin map[netip.Addr]string

	mu     sync.Mutex
	asked  map[netip.Addr]int
	closed bool
	// lateHeard counts heard calls attempted after Close.
	lateHeard int
}

var fakePrefix = netip.MustParsePrefix("10.0.0.0/24")

func (n *fakeNetwork) Attached(t netip.Addr) (Link, bool) {
	if !fakePrefix.Contains(t) || t == netip.MustParseAddr("10.0.0.2") {
		return Link{}, false
	}
	return Link{Interface: "eth0", Index: 2, MAC: "02:00:00:00:00:02", Source: netip.MustParseAddr("10.0.0.2")}, true
}

func (n *fakeNetwork) Open(_ Link, heard func(netip.Addr, net.HardwareAddr)) (Conn, error) {
	if n.openErr != nil {
		return nil, n.openErr
	}
	n.asked = map[netip.Addr]int{}
	c := &fakeConn{n: n, heard: heard}
	for ip, m := range n.extra {
		mac, _ := net.ParseMAC(m)
		heard(ip, mac)
	}
	return c, nil
}

type fakeConn struct {
	n     *fakeNetwork
	heard func(netip.Addr, net.HardwareAddr)
	wg    sync.WaitGroup
}

func (c *fakeConn) WhoHas(_ context.Context, t netip.Addr) error {
	n := c.n
	n.mu.Lock()
	n.asked[t]++
	first := n.asked[t] == 1
	n.mu.Unlock()
	m, ok := n.hosts[t]
	if !ok || first && n.dropFirst[t] {
		return nil
	}
	for _, m := range []string{m, n.twin[t]} {
		if m == "" {
			continue
		}
		mac, _ := net.ParseMAC(m)
		// The reply arrives from another goroutine, like a real receive loop.
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			time.Sleep(time.Millisecond)
			n.mu.Lock()
			closed := n.closed
			if closed {
				n.lateHeard++
			}
			n.mu.Unlock()
			if !closed {
				c.heard(t, mac)
			}
		}()
	}
	return nil
}

func (c *fakeConn) Close() error {
	c.wg.Wait()
	c.n.mu.Lock()
	c.n.closed = true
	c.n.mu.Unlock()
	return nil
}

type result struct {
	state map[netip.Addr]active.SweepState
	why   map[netip.Addr]string
	obs   []otaudit.Observation
	sched *active.Scheduler
	err   error
}

// sweep runs p over targets through a real scheduler session each.
func sweep(t *testing.T, p *Prober, limits active.Limits, targets ...string) result {
	t.Helper()
	sched := active.NewScheduler(limits)
	var sts []active.SweepTarget
	for _, s := range targets {
		tg := active.Target{Addr: netip.MustParseAddr(s)}
		sts = append(sts, active.SweepTarget{Target: tg, Session: sched.NewSession(tg, p.Plan(tg, sched.Limits()))})
	}
	r := result{state: map[netip.Addr]active.SweepState{}, why: map[netip.Addr]string{}, sched: sched}
	var mu sync.Mutex
	returned := false
	r.err = p.Sweep(context.Background(), sts, func(o otaudit.Observation) {
		mu.Lock()
		defer mu.Unlock()
		r.obs = append(r.obs, o)
	}, func(j int, s active.SweepState, why string) {
		mu.Lock()
		defer mu.Unlock()
		if returned {
			t.Errorf("report after Sweep returned")
		}
		a := sts[j].Target.Addr
		if _, dup := r.state[a]; dup {
			t.Errorf("%s reported twice", a)
		}
		r.state[a], r.why[a] = s, why
	})
	mu.Lock()
	returned = true
	mu.Unlock()
	return r
}

var fast = active.Limits{PerDevicePPS: 1000, PerZonePPS: 1000, Retries: 1}

func TestSweepFindsPresentAndAbsent(t *testing.T) {
	n := &fakeNetwork{hosts: map[netip.Addr]string{
		netip.MustParseAddr("10.0.0.10"): "00:80:f4:01:02:03", // Schneider Electric OUI
		netip.MustParseAddr("10.0.0.11"): "02:00:00:00:00:11",
	}, dropFirst: map[netip.Addr]bool{netip.MustParseAddr("10.0.0.11"): true}}
	p := New(Config{Network: n, ReplyWait: 50 * time.Millisecond})
	r := sweep(t, p, fast, "10.0.0.10", "10.0.0.11", "10.0.0.12", "192.168.1.5", "10.0.0.2")
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := map[netip.Addr]active.SweepState{
		netip.MustParseAddr("10.0.0.10"): active.SweepPresent,
		netip.MustParseAddr("10.0.0.11"): active.SweepPresent, // answered the retry
		netip.MustParseAddr("10.0.0.12"): active.SweepAbsent,
	}
	for a, s := range want {
		if r.state[a] != s {
			t.Errorf("%s: state %v, want %v", a, r.state[a], s)
		}
	}
	// Not on the attached link, or the machine's own address: undecided,
	// never asked.
	for _, a := range []string{"192.168.1.5", "10.0.0.2"} {
		if _, ok := r.state[netip.MustParseAddr(a)]; ok {
			t.Errorf("%s was decided, want left to the probers", a)
		}
		if n.asked[netip.MustParseAddr(a)] != 0 {
			t.Errorf("%s was asked", a)
		}
	}
	if got := n.asked[netip.MustParseAddr("10.0.0.10")]; got != 1 {
		t.Errorf("a host that answered at once was asked %d times, want 1", got)
	}
	if got := n.asked[netip.MustParseAddr("10.0.0.12")]; got != 2 {
		t.Errorf("an empty address was asked %d times, want 1 + 1 retry", got)
	}
	if why := r.why[netip.MustParseAddr("10.0.0.12")]; why == "" {
		t.Error("absent without a reason")
	}
	var hosts []string
	for _, o := range r.obs {
		if o.Kind != otaudit.KindHost || o.Host == nil {
			t.Fatalf("observation %+v", o)
		}
		hosts = append(hosts, o.Host.IP.String()+" "+o.Host.MAC+" "+o.Host.MACVendor)
	}
	slices.Sort(hosts)
	wantHosts := []string{"10.0.0.10 00:80:f4:01:02:03 TELEMECANIQUE ELECTRIQUE", "10.0.0.11 02:00:00:00:00:11 "}
	if !slices.Equal(hosts, wantHosts) {
		t.Errorf("hosts %q, want %q", hosts, wantHosts)
	}
	// Every request was planned and is on the ledger.
	if got := len(r.sched.Ledger()); got != 1+2+2 {
		t.Errorf("ledger holds %d requests, want 5", got)
	}
	if n.lateHeard != 0 {
		t.Errorf("%d replies delivered after close", n.lateHeard)
	}
}

// TestSweepWithoutRetries: Retries 0 asks once.
func TestSweepWithoutRetries(t *testing.T) {
	n := &fakeNetwork{hosts: map[netip.Addr]string{netip.MustParseAddr("10.0.0.11"): "02:00:00:00:00:11"},
		dropFirst: map[netip.Addr]bool{netip.MustParseAddr("10.0.0.11"): true}}
	p := New(Config{Network: n, ReplyWait: 20 * time.Millisecond})
	l := fast
	l.Retries = 0
	r := sweep(t, p, l, "10.0.0.11")
	if r.state[netip.MustParseAddr("10.0.0.11")] != active.SweepAbsent || n.asked[netip.MustParseAddr("10.0.0.11")] != 1 {
		t.Errorf("state %v after %v requests, want absent after 1", r.state, n.asked)
	}
}

// TestSweepOpenFailureLeavesTargetsUndecided: without CAP_NET_RAW nothing
// is sent and nothing decided; the error says why.
func TestSweepOpenFailureLeavesTargetsUndecided(t *testing.T) {
	n := &fakeNetwork{openErr: errors.New("socket: operation not permitted")}
	p := New(Config{Network: n})
	r := sweep(t, p, fast, "10.0.0.10", "10.0.0.11")
	if r.err == nil || len(r.state) != 0 || len(r.sched.Ledger()) != 0 {
		t.Errorf("err %v, states %v, ledger %d: want an error, nothing decided, nothing sent", r.err, r.state, len(r.sched.Ledger()))
	}
}

// TestSweepHeardUnaskedAndConflicts: an ARP sender that is a target counts
// even if it spoke unasked (and is then not asked); a second MAC answering
// for one address is recorded too; senders that are not targets are
// ignored.
func TestSweepHeardUnaskedAndConflicts(t *testing.T) {
	n := &fakeNetwork{
		hosts: map[netip.Addr]string{netip.MustParseAddr("10.0.0.10"): "02:00:00:00:00:10"},
		twin:  map[netip.Addr]string{netip.MustParseAddr("10.0.0.10"): "02:00:00:00:00:99"},
		extra: map[netip.Addr]string{netip.MustParseAddr("10.0.0.20"): "02:00:00:00:00:20", netip.MustParseAddr("10.0.0.77"): "02:00:00:00:00:77"},
	}
	// 10.0.0.30 is empty: the sweep waits its full ReplyWait, far longer
	// than the conflicting second answer takes.
	p := New(Config{Network: n, ReplyWait: 200 * time.Millisecond})
	r := sweep(t, p, fast, "10.0.0.10", "10.0.0.20", "10.0.0.30")
	if r.state[netip.MustParseAddr("10.0.0.10")] != active.SweepPresent || r.state[netip.MustParseAddr("10.0.0.20")] != active.SweepPresent {
		t.Fatalf("state %v", r.state)
	}
	if got := n.asked[netip.MustParseAddr("10.0.0.20")]; got != 0 {
		t.Errorf("a target heard before its turn was still asked %d times", got)
	}
	var macs []string
	for _, o := range r.obs {
		if o.Host.IP == netip.MustParseAddr("10.0.0.77") {
			t.Errorf("a sender that is no target was recorded: %+v", o.Host)
		}
		if o.Host.IP == netip.MustParseAddr("10.0.0.10") {
			macs = append(macs, o.Host.MAC)
		}
	}
	slices.Sort(macs)
	if !slices.Equal(macs, []string{"02:00:00:00:00:10", "02:00:00:00:00:99"}) {
		t.Errorf("MACs %v, want both answers of the conflicting address", macs)
	}
}

// TestPlanOnlyAttached: the plan names one request per attached target with
// its retries, and nothing for the others.
func TestPlanOnlyAttached(t *testing.T) {
	p := New(Config{Network: &fakeNetwork{}})
	l := active.Limits{Retries: 2}
	if got := p.Plan(active.Target{Addr: netip.MustParseAddr("10.0.0.9")}, l); len(got) != 1 || got[0].MaxAttempts != 3 || got[0].Kind != "who-has" {
		t.Errorf("plan %+v", got)
	}
	if got := p.Plan(active.Target{Addr: netip.MustParseAddr("172.16.0.9")}, l); len(got) != 0 {
		t.Errorf("plan for a routed target %+v", got)
	}
}

func TestFrames(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:00:00:00:02")
	b, err := request(mac, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.10"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 2, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0, 10, 0, 0, 10}
	if !slices.Equal(b, want) {
		t.Errorf("request % x\nwant    % x", b, want)
	}
	// Our own request read back: the sender is us.
	ip, m, ok := sender(b)
	if !ok || ip != netip.MustParseAddr("10.0.0.2") || m.String() != "02:00:00:00:00:02" {
		t.Errorf("sender %v %v %v", ip, m, ok)
	}
	reply := slices.Clone(b)
	reply[7] = opReply
	for name, bad := range map[string][]byte{
		"short":        b[:27],
		"not ethernet": append([]byte{0, 6}, b[2:]...),
		"not ipv4":     append(append([]byte{}, b[:2]...), append([]byte{0x86, 0xdd}, b[4:]...)...),
		"bad op":       append(append([]byte{}, b[:6]...), append([]byte{0, 9}, b[8:]...)...),
		"probe":        append(append([]byte{}, b[:14]...), append([]byte{0, 0, 0, 0}, b[18:]...)...),
	} {
		if _, _, ok := sender(bad); ok {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, _, ok := sender(reply); !ok {
		t.Error("reply refused")
	}
	if _, err := request(mac[:4], netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.10")); err == nil {
		t.Error("short MAC accepted")
	}
}

func FuzzSender(f *testing.F) {
	mac, _ := net.ParseMAC("02:00:00:00:00:02")
	b, _ := request(mac, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.10"))
	f.Add(b)
	f.Add(b[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, m, ok := sender(b)
		if ok && (!ip.Is4() || len(m) != hwAddrLen) {
			t.Errorf("sender %v %v from % x", ip, m, b)
		}
	})
}

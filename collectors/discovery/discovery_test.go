package discovery_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
	"github.com/otaudit/otaudit/collectors/discovery"
)

var loopback = netip.MustParseAddr("127.0.0.1")

// recordingListener accepts on 127.0.0.1:0 and records, per connection,
// how many bytes the client sent before closing.
type recordingListener struct {
	ln    net.Listener
	mu    sync.Mutex
	bytes []int
	wg    sync.WaitGroup
}

func listen(t *testing.T) *recordingListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingListener{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, c) // until the prober closes
			c.Close()
			r.mu.Lock()
			r.bytes = append(r.bytes, int(n))
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *recordingListener) port() uint16 { return uint16(r.ln.Addr().(*net.TCPAddr).Port) }

// connections waits for the listener to finish with every accepted
// connection (close it first) and returns the bytes each one carried.
func (r *recordingListener) connections() []int {
	r.ln.Close()
	r.wg.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.bytes)
}

// closedPort returns a loopback port nobody listens on (connects are
// refused).
func closedPort(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return p
}

func run(t *testing.T, p *discovery.Prober, l active.Limits, target netip.Addr) ([]otaudit.Observation, *active.Scheduler, active.RunReport) {
	t.Helper()
	sc := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))))
	var obs []otaudit.Observation
	rep := sc.Run(context.Background(), []active.Target{{Addr: target}}, []active.Prober{p}, func(o otaudit.Observation) {
		obs = append(obs, o)
	})
	return obs, sc, rep
}

func TestDiscoveryFindsOpenPortsAndSendsNoPayload(t *testing.T) {
	modbus, opcua := listen(t), listen(t)
	closed := closedPort(t)
	p := discovery.New(discovery.Config{Ports: []discovery.Port{
		{Number: modbus.port(), Protocol: "modbus"}, {Number: closed, Protocol: "s7comm"}, {Number: opcua.port(), Protocol: "opcua"},
	}})
	obs, sc, rep := run(t, p, active.Limits{Retries: 1, Timeout: 5 * time.Second}, loopback)
	if len(rep.Errors) != 0 {
		t.Fatalf("errors %+v", rep.Errors)
	}
	// One connect per port: a refusal is an answer and is not retried.
	if l := sc.Ledger(); len(l) != 3 || l[1].Detail != "port "+itoa(closed)+" (s7comm)" {
		t.Fatalf("ledger %+v: want exactly one connect per port", l)
	}
	var flows []string
	var hosts int
	for _, o := range obs {
		if o.Source != "tcp:active" {
			t.Errorf("source %q", o.Source)
		}
		switch o.Kind {
		case otaudit.KindFlow:
			f := o.Flow
			if f.Server != loopback || f.Client != loopback || f.Transport != otaudit.TCP || !f.ServerAnswered {
				t.Errorf("flow %+v", f)
			}
			flows = append(flows, f.Protocol)
		case otaudit.KindHost:
			hosts++
			if o.Host.IP != loopback || o.Host.Packets != 1 || o.Count != 3 {
				t.Errorf("host %+v count %d: want 3 answers", o.Host, o.Count)
			}
		default:
			t.Errorf("unexpected %s observation", o.Kind)
		}
	}
	if !slices.Equal(flows, []string{"modbus", "opcua"}) || hosts != 1 {
		t.Fatalf("flows %v hosts %d: want modbus and opcua open, one host", flows, hosts)
	}
	for name, l := range map[string]*recordingListener{"modbus": modbus, "opcua": opcua} {
		if got := l.connections(); !slices.Equal(got, []int{0}) {
			t.Errorf("%s listener: connections carried %v bytes, want one connection with no payload", name, got)
		}
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func TestPlanIsExactlyTheDefaultPorts(t *testing.T) {
	addr := netip.MustParseAddr("10.0.0.5")
	plan := discovery.New(discovery.Config{}).Plan(active.Target{Addr: addr}, active.Limits{Retries: 2})
	var ports []string
	total := 0
	for _, r := range plan {
		if r.Protocol != "tcp" || r.Kind != "connect" || r.Target != addr {
			t.Errorf("planned %+v", r)
		}
		total += r.MaxAttempts
		ports = append(ports, r.Detail)
	}
	want := []string{"port 102 (s7comm)", "port 502 (modbus)", "port 4840 (opcua)", "port 44818 (enip)", "port 20000 (dnp3)",
		"port 2404 (iec104)", "port 21 (ftp)", "port 22 (ssh)", "port 23 (telnet)", "port 80 (http)", "port 443 (https)",
		"port 3389 (rdp)", "port 5900 (vnc)", "retry of a port that did not answer"}
	if !slices.Equal(ports, want) {
		t.Fatalf("planned ports %v\nwant %v", ports, want)
	}
	// One connect per port plus the device's retry budget, not a retry per port.
	if want := len(discovery.DefaultPorts) + 2; total != want {
		t.Fatalf("plan allows %d connects, want %d", total, want)
	}
	plan = discovery.New(discovery.Config{}).Plan(active.Target{Addr: addr}, active.Limits{})
	if len(plan) != len(discovery.DefaultPorts) {
		t.Fatalf("no retries: %d plan lines, want one per port", len(plan))
	}
}

// silentDial answers nothing: every connect times out.
func silentDial(calls *int) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		*calls++
		return nil, &net.OpError{Op: "dial", Net: network, Err: context.DeadlineExceeded}
	}
}

func TestSilentAddressIsGivenUpAfterFewPorts(t *testing.T) {
	var calls int
	p := discovery.New(discovery.Config{Dial: silentDial(&calls), GiveUpAfterSilent: 3})
	obs, sc, rep := run(t, p, active.Limits{Retries: 1}, netip.MustParseAddr("10.0.0.9"))
	// Three silent ports, the first one tried twice (the device's one
	// retry), then the address is given up: no observation, no error.
	if calls != 4 || len(sc.Ledger()) != 4 || len(obs) != 0 || len(rep.Errors) != 0 || len(rep.Unreachable) != 0 {
		t.Fatalf("dials %d, ledger %d, observations %d, errors %+v, unreachable %v", calls, len(sc.Ledger()), len(obs), rep.Errors, rep.Unreachable)
	}
	if l := sc.Ledger(); !strings.HasPrefix(l[1].Detail, "retry of a port that did not answer: port 102") {
		t.Errorf("second connect %q: want the retry of port 102", l[1].Detail)
	}
	calls = 0
	p = discovery.New(discovery.Config{Dial: silentDial(&calls), GiveUpAfterSilent: -1})
	run(t, p, active.Limits{Retries: 0}, netip.MustParseAddr("10.0.0.9"))
	if calls != len(discovery.DefaultPorts) {
		t.Fatalf("never giving up: %d dials, want one per port", calls)
	}
}

// nextProber records whether the scheduler let it probe after discovery.
type nextProber struct{ probed []netip.Addr }

func (n *nextProber) Name() string { return "snmp" }
func (n *nextProber) Plan(t active.Target, _ active.Limits) []active.PlannedRequest {
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "snmp", Kind: "get", MaxAttempts: 1}}
}
func (n *nextProber) Probe(_ context.Context, _ *active.Session, t active.Target, _ func(otaudit.Observation)) error {
	n.probed = append(n.probed, t.Addr)
	return nil
}

func TestUnreachableHostEndsTheDeviceWithoutError(t *testing.T) {
	var calls int
	p := discovery.New(discovery.Config{Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
		calls++
		return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.EHOSTUNREACH}
	}})
	dead := netip.MustParseAddr("10.0.0.9")
	next := &nextProber{}
	sc := active.NewScheduler(active.Limits{Retries: 1}, active.WithClock(activetest.NewVirtualClock(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))))
	var obs []otaudit.Observation
	rep := sc.Run(context.Background(), []active.Target{{Addr: dead}}, []active.Prober{next, p}, func(o otaudit.Observation) { obs = append(obs, o) })
	// One connect tells: the host does not answer ARP, so it cannot answer
	// UDP either. It is an outcome (a range holds many empty addresses),
	// and no other prober spends its timeouts on it.
	if calls != 1 || len(obs) != 0 || len(rep.Errors) != 0 || !slices.Equal(rep.Unreachable, []netip.Addr{dead}) {
		t.Fatalf("dials %d, observations %d, errors %+v, unreachable %v", calls, len(obs), rep.Errors, rep.Unreachable)
	}
	if len(next.probed) != 0 {
		t.Fatalf("the next prober probed %v after discovery found the host unreachable", next.probed)
	}
	if l := sc.Ledger(); len(l) != 1 || l[0].Protocol != "tcp" {
		t.Fatalf("ledger %+v: want only the one connect", l)
	}
	if !errors.Is(&net.OpError{Err: syscall.EHOSTUNREACH}, syscall.EHOSTUNREACH) {
		t.Fatal("net.OpError does not unwrap to the errno: classification would be wrong")
	}
}

func TestSilentButReachableHostIsStillProbedByTheOthers(t *testing.T) {
	var calls int
	p := discovery.New(discovery.Config{Dial: silentDial(&calls), GiveUpAfterSilent: 2})
	host := netip.MustParseAddr("10.0.0.10")
	next := &nextProber{}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC))))
	rep := sc.Run(context.Background(), []active.Target{{Addr: host}}, []active.Prober{p, next}, func(otaudit.Observation) {})
	// A device that drops TCP may still serve SNMP.
	if !slices.Equal(next.probed, []netip.Addr{host}) || len(rep.Errors) != 0 || len(rep.Unreachable) != 0 {
		t.Fatalf("next prober probed %v, errors %+v, unreachable %v: want it probed, no error", next.probed, rep.Errors, rep.Unreachable)
	}
}

// TestTimeoutComesFromTheScheduler: a port that drops SYNs cannot be made on
// 127.0.0.1, so a dialer blocks until the request's context ends — the
// scheduler's Timeout is what ends it, and the connect is retried once.
func TestTimeoutComesFromTheScheduler(t *testing.T) {
	p := discovery.New(discovery.Config{Ports: []discovery.Port{{Number: 1}}, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}})
	obs, sc, rep := run(t, p, active.Limits{Retries: 1, Timeout: 10 * time.Millisecond}, loopback)
	if len(sc.Ledger()) != 2 || len(obs) != 0 || len(rep.Errors) != 0 {
		t.Fatalf("ledger %d, observations %d, errors %+v: want two silent attempts and nothing found", len(sc.Ledger()), len(obs), rep.Errors)
	}
}

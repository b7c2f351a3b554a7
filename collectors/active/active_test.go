package active_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// fakeProber plans `requests` requests of protocol/kind per target and
// sends them in order; hooks change what a send does per target.
type fakeProber struct {
	name, protocol, kind string
	requests             int
	// send overrides the default send (which succeeds at once).
	send func(ctx context.Context, t active.Target, i int) error
	// probe overrides the whole Probe.
	probe func(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error
	// plan overrides the plan.
	plan func(t active.Target, l active.Limits) []active.PlannedRequest

	mu     sync.Mutex
	probed []active.Target
}

func (p *fakeProber) Name() string { return p.name }

func (p *fakeProber) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	if p.plan != nil {
		return p.plan(t, l)
	}
	var out []active.PlannedRequest
	for i := range p.requests {
		out = append(out, active.PlannedRequest{Target: t.Addr, Protocol: p.protocol, Kind: p.kind, MaxAttempts: 1, Detail: fmt.Sprint("request ", i)})
	}
	return out
}

func (p *fakeProber) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	p.mu.Lock()
	p.probed = append(p.probed, t)
	p.mu.Unlock()
	if p.probe != nil {
		return p.probe(ctx, s, t, emit)
	}
	answered := 0
	for i := range p.requests {
		err := s.Do(ctx, p.protocol, p.kind, fmt.Sprint("request ", i), func(ctx context.Context) error {
			if p.send != nil {
				return p.send(ctx, t, i)
			}
			return nil
		})
		if err != nil {
			return err
		}
		answered++
	}
	emit(otaudit.Observation{Kind: otaudit.KindHost, Source: p.name + ":active", Count: int64(answered),
		Host: &otaudit.HostSighting{IP: t.Addr, Packets: 1}})
	return nil
}

func targetsN(n int) []active.Target {
	var ts []active.Target
	a := netip.MustParseAddr("10.0.0.1")
	for range n {
		ts = append(ts, active.Target{Addr: a})
		a = a.Next()
	}
	return ts
}

// collect is an emit that keeps what it is given (Run serialises emit).
type collect struct{ obs []otaudit.Observation }

func (c *collect) emit(o otaudit.Observation) { c.obs = append(c.obs, o) }

func TestAllowListIsExactlyTheReadOnlyContract(t *testing.T) {
	want := map[string][]string{
		"arp":    {"who-has"},
		"bacnet": {"read-property", "who-is"},
		"tcp":    {"connect"},
		"snmp":   {"get", "getbulk", "getnext"},
		"modbus": {"read-device-id", "read-holding-registers", "report-server-id"},
		"opcua": {"activate-session", "browse", "browse-next", "close-secure-channel", "close-session",
			"create-session", "find-servers", "get-endpoints", "hello", "open-secure-channel", "read"},
	}
	if got := slices.Sorted(maps.Keys(active.Allowed)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("protocols %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	for proto, kinds := range want {
		var got []string
		for k, ok := range active.Allowed[proto] {
			if ok {
				got = append(got, k)
			}
		}
		slices.Sort(got)
		if !slices.Equal(got, kinds) {
			t.Errorf("%s kinds %v, want exactly %v", proto, got, kinds)
		}
	}
}

// TestDoRefusesWritesBeforeSending: a kind outside the allow-list is refused
// with ErrNotAllowed, send never runs and the ledger stays empty — even when
// a (buggy or hostile) prober planned it.
func TestDoRefusesWritesBeforeSending(t *testing.T) {
	forbidden := [][2]string{
		{"snmp", "set"}, {"modbus", "write-single-register"}, {"modbus", "write-multiple-registers"},
		{"opcua", "write"}, {"opcua", "call"}, {"opcua", "add-nodes"}, {"tcp", "send"}, {"s7comm", "stop-cpu"}, {"", ""},
	}
	var sent atomic.Int64
	var refused []error
	p := &fakeProber{name: "evil",
		plan: func(tg active.Target, _ active.Limits) []active.PlannedRequest {
			var out []active.PlannedRequest
			for _, f := range forbidden {
				out = append(out, active.PlannedRequest{Target: tg.Addr, Protocol: f[0], Kind: f[1], MaxAttempts: 1})
			}
			return out
		},
		probe: func(ctx context.Context, s *active.Session, _ active.Target, _ func(otaudit.Observation)) error {
			for _, f := range forbidden {
				refused = append(refused, s.Do(ctx, f[0], f[1], "", func(context.Context) error { sent.Add(1); return nil }))
			}
			return nil
		}}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	rep := sc.Run(context.Background(), targetsN(1), []active.Prober{p}, func(otaudit.Observation) {})
	for i, err := range refused {
		if !errors.Is(err, active.ErrNotAllowed) {
			t.Errorf("%v: err %v, want ErrNotAllowed", forbidden[i], err)
		}
	}
	if len(refused) != len(forbidden) || sent.Load() != 0 || len(sc.Ledger()) != 0 || rep.Requests != 0 {
		t.Fatalf("refused %d of %d, sent %d, ledger %v, report %+v", len(refused), len(forbidden), sent.Load(), sc.Ledger(), rep)
	}
}

// TestDoRefusesWhatThePlanDidNotAnnounce: the plan is a promise.
func TestDoRefusesWhatThePlanDidNotAnnounce(t *testing.T) {
	var errs []error
	var sent int
	p := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 2,
		probe: func(ctx context.Context, s *active.Session, _ active.Target, _ func(otaudit.Observation)) error {
			for _, kind := range []string{"get", "get", "get", "getnext"} {
				errs = append(errs, s.Do(ctx, "snmp", kind, "", func(context.Context) error { sent++; return nil }))
			}
			return nil
		}}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	sc.Run(context.Background(), targetsN(1), []active.Prober{p}, func(otaudit.Observation) {})
	if errs[0] != nil || errs[1] != nil || !errors.Is(errs[2], active.ErrOverPlan) || !errors.Is(errs[3], active.ErrOverPlan) {
		t.Fatalf("errors %v: want two sent, then ErrOverPlan for the third get and the unplanned getnext", errs)
	}
	if sent != 2 || len(sc.Ledger()) != 2 {
		t.Fatalf("sent %d, ledger %d: want 2", sent, len(sc.Ledger()))
	}
}

// maxInWindow is the largest number of ledger entries (of one target, or
// all when target is invalid) in any half-open window [t, t+w).
func maxInWindow(ledger []active.LedgerEntry, target netip.Addr, w time.Duration) int {
	var times []time.Time
	for _, e := range ledger {
		if !target.IsValid() || e.Target == target {
			times = append(times, e.Time)
		}
	}
	slices.SortFunc(times, time.Time.Compare)
	best, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

func TestMaxInWindowDetectsBursts(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	l := []active.LedgerEntry{{Time: t0, Target: a}, {Time: t0.Add(400 * time.Millisecond), Target: a},
		{Time: t0.Add(999 * time.Millisecond), Target: a}, {Time: t0.Add(time.Second), Target: a}}
	if got := maxInWindow(l, a, time.Second); got != 3 {
		t.Fatalf("maxInWindow = %d, want 3", got)
	}
}

// TestRateLimitsHoldOnTheLedger: with a virtual clock, no device gets more
// than PerDevicePPS requests and the zone not more than PerZonePPS in any
// one-second window, while several devices are probed at once.
func TestRateLimitsHoldOnTheLedger(t *testing.T) {
	for _, tc := range []struct {
		name               string
		perDevice, perZone float64
		concurrency        int
	}{
		{"zone binds", 2, 5, 4},
		{"device binds", 2, 20, 3},
		{"fractional", 0.5, 1, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := activetest.NewVirtualClock(t0)
			l := active.Limits{PerDevicePPS: tc.perDevice, PerZonePPS: tc.perZone, Concurrency: tc.concurrency}
			sc := active.NewScheduler(l, active.WithClock(clock))
			targets := targetsN(6)
			p := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 10}
			var c collect
			rep := sc.Run(context.Background(), targets, []active.Prober{p}, c.emit)
			ledger := sc.Ledger()
			if len(ledger) != 60 || rep.Requests != 60 || len(c.obs) != 6 || len(rep.Errors) != 0 {
				t.Fatalf("ledger %d, report %+v, observations %d: want 60 requests from 6 devices", len(ledger), rep, len(c.obs))
			}
			capDev, capZone := int(max(1, tc.perDevice)), int(max(1, tc.perZone))
			for _, tg := range targets {
				if n := maxInWindow(ledger, tg.Addr, time.Second); n > capDev {
					t.Errorf("%s: %d requests in one second, cap %g", tg.Addr, n, tc.perDevice)
				}
			}
			if n := maxInWindow(ledger, netip.Addr{}, time.Second); n > capZone {
				t.Errorf("zone: %d requests in one second, cap %g", n, tc.perZone)
			}
			// Over longer windows the average must respect the rate too.
			if n := maxInWindow(ledger, netip.Addr{}, 10*time.Second); float64(n) > 10*tc.perZone {
				t.Errorf("zone: %d requests in ten seconds, cap %g/s", n, tc.perZone)
			}
			// The limits did bite: 60 requests at the zone rate need at
			// least 59 intervals of virtual time.
			rate := min(tc.perZone, tc.perDevice*float64(tc.concurrency))
			if need := time.Duration(59 / rate * float64(time.Second)); rep.Duration < need {
				t.Errorf("virtual duration %v < %v: the rate was not applied", rep.Duration, need)
			}
		})
	}
}

func TestPauseBetweenRequests(t *testing.T) {
	clock := activetest.NewVirtualClock(t0)
	sc := active.NewScheduler(active.Limits{PerDevicePPS: 1000, PerZonePPS: 1000, PauseBetweenRequests: 2 * time.Second},
		active.WithClock(clock))
	p := &fakeProber{name: "modbus", protocol: "modbus", kind: "read-device-id", requests: 4}
	sc.Run(context.Background(), targetsN(1), []active.Prober{p}, func(otaudit.Observation) {})
	l := sc.Ledger()
	if len(l) != 4 {
		t.Fatalf("ledger %d, want 4", len(l))
	}
	for i := 1; i < len(l); i++ {
		if gap := l[i].Time.Sub(l[i-1].Time); gap < 2*time.Second {
			t.Errorf("request %d only %v after the previous one, pause is 2s", i, gap)
		}
	}
}

// TestSilentDeviceDoesNotStallOthers: one device accepts a request and
// never answers; the others are probed to the end while it hangs, and it
// ends as a DeviceError, not a stalled scan.
func TestSilentDeviceDoesNotStallOthers(t *testing.T) {
	targets := targetsN(4)
	silent := targets[0].Addr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var answered atomic.Int64
	p := &fakeProber{name: "modbus", protocol: "modbus", kind: "read-device-id", requests: 2,
		send: func(ctx context.Context, tg active.Target, _ int) error {
			if tg.Addr == silent {
				<-ctx.Done() // never answers
				return ctx.Err()
			}
			return nil
		}}
	var c collect
	emit := func(o otaudit.Observation) {
		c.emit(o)
		if answered.Add(1) == 3 {
			// Every other device finished while the silent one still
			// hangs (its timeout is far away): now end the scan.
			cancel()
		}
	}
	sc := active.NewScheduler(active.Limits{PerDevicePPS: 1000, PerZonePPS: 1000, Concurrency: 2, Timeout: time.Hour})
	rep := sc.Run(ctx, targets, []active.Prober{p}, emit)
	var got []netip.Addr
	for _, o := range c.obs {
		got = append(got, o.Host.IP)
	}
	slices.SortFunc(got, netip.Addr.Compare)
	want := []netip.Addr{targets[1].Addr, targets[2].Addr, targets[3].Addr}
	if !slices.Equal(got, want) {
		t.Fatalf("observations from %v, want %v", got, want)
	}
	if len(rep.Errors) != 1 || rep.Errors[0].Target != silent || rep.Errors[0].Prober != "modbus" {
		t.Fatalf("errors %+v: want one DeviceError for the silent device", rep.Errors)
	}
}

// TestTimeoutEndsASilentRequest: the per-request timeout alone ends a hung
// request and the device becomes a DeviceError.
func TestTimeoutEndsASilentRequest(t *testing.T) {
	p := &fakeProber{name: "opcua", protocol: "opcua", kind: "hello", requests: 1,
		send: func(ctx context.Context, _ active.Target, _ int) error { <-ctx.Done(); return ctx.Err() }}
	sc := active.NewScheduler(active.Limits{Timeout: 20 * time.Millisecond})
	rep := sc.Run(context.Background(), targetsN(1), []active.Prober{p}, func(otaudit.Observation) {})
	if len(rep.Errors) != 1 || rep.Errors[0].Err != context.DeadlineExceeded.Error() {
		t.Fatalf("errors %+v: want the request's deadline", rep.Errors)
	}
}

func TestConnsPerDeviceBoundsRequestsInFlight(t *testing.T) {
	for _, conns := range []int{1, 2} {
		var inFlight, peak atomic.Int64
		p := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 8,
			probe: func(ctx context.Context, s *active.Session, _ active.Target, _ func(otaudit.Observation)) error {
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						_ = s.Do(ctx, "snmp", "get", "", func(context.Context) error {
							n := inFlight.Add(1)
							for {
								old := peak.Load()
								if n <= old || peak.CompareAndSwap(old, n) {
									break
								}
							}
							inFlight.Add(-1)
							return nil
						})
					})
				}
				wg.Wait()
				return nil
			}}
		sc := active.NewScheduler(active.Limits{PerDevicePPS: 1000, PerZonePPS: 1000, ConnsPerDevice: conns},
			active.WithClock(activetest.NewVirtualClock(t0)))
		sc.Run(context.Background(), targetsN(1), []active.Prober{p}, func(otaudit.Observation) {})
		if peak.Load() > int64(conns) || len(sc.Ledger()) != 8 {
			t.Errorf("conns %d: peak in flight %d, ledger %d", conns, peak.Load(), len(sc.Ledger()))
		}
	}
}

func TestAttemptBudgetPerDevice(t *testing.T) {
	guess := func(n int, times *[]time.Time, clock *activetest.VirtualClock) *fakeProber {
		return &fakeProber{name: "g", probe: func(ctx context.Context, s *active.Session, _ active.Target, _ func(otaudit.Observation)) error {
			for range n {
				if s.Attempt(ctx) {
					*times = append(*times, clock.Now())
				}
			}
			return nil
		}, plan: func(tg active.Target, _ active.Limits) []active.PlannedRequest {
			return []active.PlannedRequest{{Target: tg.Addr, Protocol: "opcua", Kind: "activate-session", MaxAttempts: 1}}
		}}
	}
	for _, tc := range []struct {
		name string
		l    active.Limits
		want int
	}{
		{"off", active.Limits{CredentialGuessing: false, MaxAttemptsPerDevice: 5}, 0},
		{"zero attempts", active.Limits{CredentialGuessing: true, MaxAttemptsPerDevice: 0}, 0},
		{"three across two probers", active.Limits{CredentialGuessing: true, MaxAttemptsPerDevice: 3, AttemptDelay: 2 * time.Second}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := activetest.NewVirtualClock(t0)
			var times []time.Time
			sc := active.NewScheduler(tc.l, active.WithClock(clock))
			// Two probers on two devices, each wanting 2 guesses per device.
			sc.Run(context.Background(), targetsN(2), []active.Prober{guess(2, &times, clock), guess(2, &times, clock)},
				func(otaudit.Observation) {})
			if len(times) != 2*tc.want {
				t.Fatalf("%d attempts granted on two devices, want %d each", len(times), tc.want)
			}
		})
	}
	// The delay: on one device, attempts are AttemptDelay apart.
	clock := activetest.NewVirtualClock(t0)
	var times []time.Time
	sc := active.NewScheduler(active.Limits{CredentialGuessing: true, MaxAttemptsPerDevice: 4, AttemptDelay: 2 * time.Second},
		active.WithClock(clock))
	sc.Run(context.Background(), targetsN(1), []active.Prober{guess(10, &times, clock)}, func(otaudit.Observation) {})
	if len(times) != 4 {
		t.Fatalf("%d attempts, want 4", len(times))
	}
	for i := 1; i < len(times); i++ {
		if gap := times[i].Sub(times[i-1]); gap < 2*time.Second {
			t.Errorf("attempt %d only %v after the previous one", i, gap)
		}
	}
}

// TestDiscoveryRunsFirstAndNarrowsPorts: the "tcp" prober runs first even
// when listed last, and what it found open reaches the others' Target.
func TestDiscoveryRunsFirstAndNarrowsPorts(t *testing.T) {
	var order []string
	disc := &fakeProber{name: "tcp", plan: func(tg active.Target, _ active.Limits) []active.PlannedRequest {
		return []active.PlannedRequest{{Target: tg.Addr, Protocol: "tcp", Kind: "connect", MaxAttempts: 1, Detail: "port 502"},
			{Target: tg.Addr, Protocol: "tcp", Kind: "connect", MaxAttempts: 1, Detail: "port 4840"}}
	}, probe: func(ctx context.Context, s *active.Session, tg active.Target, emit func(otaudit.Observation)) error {
		order = append(order, "tcp")
		for _, port := range []uint16{502, 4840} {
			_ = s.Do(ctx, "tcp", "connect", fmt.Sprint("port ", port), func(context.Context) error { return nil })
		}
		emit(otaudit.Observation{Kind: otaudit.KindFlow, Flow: &otaudit.Flow{Server: tg.Addr, Transport: otaudit.TCP, ServerPort: 502, ServerAnswered: true}})
		emit(otaudit.Observation{Kind: otaudit.KindFlow, Flow: &otaudit.Flow{Server: tg.Addr, Transport: otaudit.TCP, ServerPort: 4840, ServerAnswered: false}})
		return nil
	}}
	portProber := func(name string, port uint16) *fakeProber {
		p := &fakeProber{name: name, protocol: "tcp", kind: "connect"}
		p.plan = func(tg active.Target, _ active.Limits) []active.PlannedRequest {
			if tg.OpenTCP != nil && !tg.OpenTCP[port] {
				return nil
			}
			return []active.PlannedRequest{{Target: tg.Addr, Protocol: "tcp", Kind: "connect", MaxAttempts: 1}}
		}
		p.probe = func(context.Context, *active.Session, active.Target, func(otaudit.Observation)) error {
			order = append(order, name)
			return nil
		}
		return p
	}
	modbus, opcua := portProber("modbus", 502), portProber("opcua", 4840)
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	sc.Run(context.Background(), targetsN(1), []active.Prober{modbus, opcua, disc}, func(otaudit.Observation) {})
	if !slices.Equal(order, []string{"tcp", "modbus"}) {
		t.Fatalf("probe order %v: want discovery first, then only modbus (4840 did not answer)", order)
	}
	if got := modbus.probed[0].OpenTCP; len(got) != 1 || !got[502] {
		t.Errorf("modbus saw OpenTCP %v, want {502}", got)
	}
	// The dry-run plan lists discovery first too, and is the upper bound.
	plan := active.Plan(targetsN(1), []active.Prober{modbus, opcua, disc}, active.Limits{})
	var kinds []string
	for _, r := range plan {
		kinds = append(kinds, r.Protocol+"/"+r.Detail)
	}
	if !slices.Equal(kinds, []string{"tcp/port 502", "tcp/port 4840", "tcp/", "tcp/"}) {
		t.Errorf("plan %v", kinds)
	}
}

func TestPlanSendsNothing(t *testing.T) {
	p := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 3}
	plan := active.Plan(targetsN(2), []active.Prober{p}, active.Limits{})
	if len(plan) != 6 || len(p.probed) != 0 {
		t.Fatalf("plan %d lines, probed %d: want 6 lines and no probe", len(plan), len(p.probed))
	}
	if plan[0].Target != netip.MustParseAddr("10.0.0.1") || plan[5].Target != netip.MustParseAddr("10.0.0.2") {
		t.Errorf("plan not in target order: %+v", plan)
	}
}

func TestLimitsDefaultsAndClamps(t *testing.T) {
	// Zero rates, concurrency, connections and timeout take the defaults;
	// zero retries and guessing off are the gentler choice and stay.
	got := active.NewScheduler(active.Limits{}).Limits()
	want := active.DefaultLimits()
	want.Retries, want.CredentialGuessing, want.MaxAttemptsPerDevice, want.AttemptDelay = 0, false, 0, 0
	if got != want {
		t.Errorf("zero limits → %+v, want %+v", got, want)
	}
	got = active.NewScheduler(active.Limits{PerDevicePPS: 50, PerZonePPS: 10, Concurrency: -1, Retries: -3}).Limits()
	if got.PerDevicePPS != 10 || got.Concurrency != 4 || got.Retries != 0 || got.ConnsPerDevice != 1 {
		t.Errorf("clamped limits %+v", got)
	}
}

func TestCancelledRunSkipsRemainingDevices(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 1}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	rep := sc.Run(ctx, targetsN(50), []active.Prober{p}, func(otaudit.Observation) {})
	if len(sc.Ledger()) != 0 {
		t.Fatalf("a cancelled run sent %d requests", len(sc.Ledger()))
	}
	if rep.Targets != 50 {
		t.Errorf("report %+v", rep)
	}
}

// TestUnreachableEndsTheDevice: a prober that says the network cannot reach
// the device ends that device's probe — the later probers are skipped —
// and the target is reported unreachable, not as a device error; the other
// devices are probed in full.
func TestUnreachableEndsTheDevice(t *testing.T) {
	targets := targetsN(3)
	dead := targets[1].Addr
	disc := &fakeProber{name: "tcp", protocol: "tcp", kind: "connect", requests: 1, send: func(_ context.Context, tg active.Target, _ int) error {
		if tg.Addr == dead {
			return fmt.Errorf("tcp %s port 102: %w: connect: no route to host", tg.Addr, active.ErrUnreachable)
		}
		return nil
	}}
	snmp := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 2}
	failing := &fakeProber{name: "modbus", protocol: "modbus", kind: "read-device-id", requests: 1,
		send: func(context.Context, active.Target, int) error { return errors.New("exception 1") }}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	rep := sc.Run(context.Background(), targets, []active.Prober{snmp, failing, disc}, func(otaudit.Observation) {})
	if !slices.Equal(rep.Unreachable, []netip.Addr{dead}) {
		t.Errorf("unreachable %v, want [%s]", rep.Unreachable, dead)
	}
	for _, e := range rep.Errors {
		if e.Target == dead {
			t.Errorf("device error for the unreachable device: %+v", e)
		}
	}
	// The two live devices still report the failing prober's errors.
	if len(rep.Errors) != 2 {
		t.Errorf("errors %+v: want the modbus failure on each live device", rep.Errors)
	}
	for _, p := range []*fakeProber{snmp, failing} {
		for _, tg := range p.probed {
			if tg.Addr == dead {
				t.Errorf("%s probed %s after discovery found it unreachable", p.name, dead)
			}
		}
		if len(p.probed) != 2 {
			t.Errorf("%s probed %d devices, want the 2 reachable ones", p.name, len(p.probed))
		}
	}
	for _, e := range sc.Ledger() {
		if e.Target == dead && e.Protocol != "tcp" {
			t.Errorf("ledger: %s %s sent to the unreachable device", e.Protocol, e.Kind)
		}
	}
}

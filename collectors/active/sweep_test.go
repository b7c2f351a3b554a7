package active_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
)

// fakeSweeper asks each target once through its session and decides it by
// the state table (missing: not reported at all).
type fakeSweeper struct {
	state map[netip.Addr]active.SweepState
	// skip targets get no plan (the sweeper cannot ask them).
	skip map[netip.Addr]bool
	err  error

	mu    sync.Mutex
	asked []netip.Addr
}

func (f *fakeSweeper) Name() string { return "arp" }

func (f *fakeSweeper) Plan(t active.Target, _ active.Limits) []active.PlannedRequest {
	if f.skip[t.Addr] {
		return nil
	}
	return []active.PlannedRequest{{Target: t.Addr, Protocol: "arp", Kind: "who-has", MaxAttempts: 1}}
}

func (f *fakeSweeper) Probe(context.Context, *active.Session, active.Target, func(otaudit.Observation)) error {
	return errors.New("the scheduler must never call a sweeper's Probe")
}

func (f *fakeSweeper) Sweep(ctx context.Context, targets []active.SweepTarget, emit func(otaudit.Observation), report func(int, active.SweepState, string)) error {
	for j, st := range targets {
		if err := st.Session.Do(ctx, "arp", "who-has", "", func(context.Context) error { return nil }); err != nil {
			return err
		}
		f.mu.Lock()
		f.asked = append(f.asked, st.Target.Addr)
		f.mu.Unlock()
		if s, ok := f.state[st.Target.Addr]; ok {
			if s == active.SweepPresent {
				emit(otaudit.Observation{Kind: otaudit.KindHost, Source: "arp:active",
					Host: &otaudit.HostSighting{IP: st.Target.Addr, MAC: "02:00:00:00:00:01"}})
			}
			report(j, s, "no ARP reply")
		}
	}
	return f.err
}

func addrs(ss ...string) []active.Target {
	var ts []active.Target
	for _, s := range ss {
		ts = append(ts, active.Target{Addr: netip.MustParseAddr(s)})
	}
	return ts
}

// TestSweepDecidesWhoIsProbed: absent targets are unreachable and never
// probed; present and undecided ones (no reply, or not askable) are probed
// by every device prober; the sweep's requests are in the ledger and in the
// plan; its Probe is never called.
func TestSweepDecidesWhoIsProbed(t *testing.T) {
	targets := addrs("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5")
	sw := &fakeSweeper{
		state: map[netip.Addr]active.SweepState{
			targets[0].Addr: active.SweepPresent,
			targets[1].Addr: active.SweepAbsent,
			targets[2].Addr: active.SweepUnknown,
			targets[4].Addr: active.SweepAbsent,
		},
		// 10.0.0.4 is not reported at all.
		skip: map[netip.Addr]bool{targets[4].Addr: true}, // cannot be asked: probed
	}
	disc := &fakeProber{name: "tcp", protocol: "tcp", kind: "connect", requests: 1}
	snmp := &fakeProber{name: "snmp", protocol: "snmp", kind: "get", requests: 1}
	sc := active.NewScheduler(active.Limits{Concurrency: 2}, active.WithClock(activetest.NewVirtualClock(t0)))
	var c collect
	probers := []active.Prober{snmp, disc, sw}
	rep := sc.Run(context.Background(), targets, probers, c.emit)

	if want := []netip.Addr{targets[1].Addr}; !slices.Equal(rep.Unreachable, want) {
		t.Errorf("unreachable %v, want %v", rep.Unreachable, want)
	}
	if len(rep.Errors) != 0 {
		t.Errorf("errors %+v", rep.Errors)
	}
	wantProbed := []netip.Addr{targets[0].Addr, targets[2].Addr, targets[3].Addr, targets[4].Addr}
	for _, p := range []*fakeProber{disc, snmp} {
		var got []netip.Addr
		for _, tg := range p.probed {
			got = append(got, tg.Addr)
		}
		slices.SortFunc(got, netip.Addr.Compare)
		if !slices.Equal(got, wantProbed) {
			t.Errorf("%s probed %v, want %v", p.name, got, wantProbed)
		}
	}
	if slices.Contains(sw.asked, targets[4].Addr) {
		t.Errorf("the sweeper asked %s, which it planned nothing for", targets[4].Addr)
	}
	// Every request in the ledger was planned, the sweep's first.
	plan := active.Plan(targets, probers, sc.Limits())
	if plan[0].Protocol != "arp" {
		t.Errorf("plan starts with %s %s, want the sweep first", plan[0].Protocol, plan[0].Kind)
	}
	arp := 0
	for _, e := range sc.Ledger() {
		if e.Protocol == "arp" {
			arp++
		}
		if e.Target == targets[1].Addr && e.Protocol != "arp" {
			t.Errorf("ledger: %s %s sent to the absent %s", e.Protocol, e.Kind, e.Target)
		}
	}
	if arp != 4 {
		t.Errorf("ledger holds %d who-has, want one per askable target (4)", arp)
	}
	macs := 0
	for _, o := range c.obs {
		if o.Kind == otaudit.KindHost && o.Source == "arp:active" {
			macs++
		}
	}
	if macs != 1 {
		t.Errorf("%d sweep observations, want 1", macs)
	}
}

// TestSweepFailureStillProbesTheRest: a sweeper that fails half-way leaves
// its undecided targets to the probers; what it decided stands.
func TestSweepFailureStillProbesTheRest(t *testing.T) {
	targets := addrs("10.0.0.1", "10.0.0.2", "10.0.0.3")
	sw := &fakeSweeper{state: map[netip.Addr]active.SweepState{targets[0].Addr: active.SweepAbsent},
		err: errors.New("socket: operation not permitted")}
	disc := &fakeProber{name: "tcp", protocol: "tcp", kind: "connect", requests: 1}
	sc := active.NewScheduler(active.Limits{}, active.WithClock(activetest.NewVirtualClock(t0)))
	rep := sc.Run(context.Background(), targets, []active.Prober{disc, sw}, func(otaudit.Observation) {})
	if len(disc.probed) != 2 {
		t.Errorf("probed %v, want the 2 undecided targets", disc.probed)
	}
	if !slices.Equal(rep.Unreachable, []netip.Addr{targets[0].Addr}) {
		t.Errorf("unreachable %v", rep.Unreachable)
	}
}

// TestSweepPerDeviceRateCoversTheSweep: the sweep and the probers share one
// device's rate: with 1 request/s per device, a target's who-has and its
// connect are a second apart on the ledger.
func TestSweepPerDeviceRateCoversTheSweep(t *testing.T) {
	targets := addrs("10.0.0.1")
	sw := &fakeSweeper{state: map[netip.Addr]active.SweepState{targets[0].Addr: active.SweepPresent}}
	disc := &fakeProber{name: "tcp", protocol: "tcp", kind: "connect", requests: 1}
	sc := active.NewScheduler(active.Limits{PerDevicePPS: 1, PerZonePPS: 100}, active.WithClock(activetest.NewVirtualClock(t0)))
	sc.Run(context.Background(), targets, []active.Prober{disc, sw}, func(otaudit.Observation) {})
	l := sc.Ledger()
	if len(l) != 2 || l[0].Protocol != "arp" || l[1].Protocol != "tcp" {
		t.Fatalf("ledger %+v", l)
	}
	if gap := l[1].Time.Sub(l[0].Time); gap < 1e9 {
		t.Errorf("who-has and connect %v apart, want ≥ 1s at 1 request/s per device", gap)
	}
}

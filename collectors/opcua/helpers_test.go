package opcua

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/active/activetest"
)

// testLimits are fast but otherwise real limits; the virtual clock makes
// the rate limits cost no wall time.
func testLimits() active.Limits {
	l := active.DefaultLimits()
	l.Timeout = 5 * time.Second
	l.Retries = 0
	l.CredentialGuessing = false
	l.AttemptDelay = 0
	return l
}

// runResult is one scheduler run of the prober against one target.
type runResult struct {
	obs    []otaudit.Observation
	ledger []active.LedgerEntry
	report active.RunReport
	plan   []active.PlannedRequest
	limits active.Limits
}

// kinds counts the ledger's OPC UA requests by kind.
func (r runResult) kinds() map[string]int {
	m := map[string]int{}
	for _, e := range r.ledger {
		if e.Protocol == "opcua" {
			m[e.Kind]++
		}
	}
	return m
}

// connects counts the ledger's TCP connections.
func (r runResult) connects() int {
	n := 0
	for _, e := range r.ledger {
		if e.Protocol == "tcp" && e.Kind == "connect" {
			n++
		}
	}
	return n
}

func (r runResult) of(kind otaudit.ObservationKind) []otaudit.Observation {
	var out []otaudit.Observation
	for _, o := range r.obs {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

func runProber(t *testing.T, p *Prober, target netip.Addr, l active.Limits) runResult {
	t.Helper()
	s := active.NewScheduler(l, active.WithClock(activetest.NewVirtualClock(time.Unix(1_800_000_000, 0))),
		active.WithLogger(testLogger(t)))
	var mu sync.Mutex
	var res runResult
	tg := []active.Target{{Addr: target}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	res.plan = active.Plan(tg, []active.Prober{p}, l)
	res.limits = s.Limits()
	res.report = s.Run(ctx, tg, []active.Prober{p}, func(o otaudit.Observation) {
		mu.Lock()
		res.obs = append(res.obs, o)
		mu.Unlock()
	})
	res.ledger = s.Ledger()
	return res
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// assertLedgerWithinPlan checks the session's promise from the outside:
// every kind sent was planned, never more often than planned, and only
// allowed kinds went out.
func assertLedgerWithinPlan(t *testing.T, r runResult) {
	t.Helper()
	planned := map[[2]string]int{}
	for _, p := range r.plan {
		planned[[2]string{p.Protocol, p.Kind}] += p.MaxAttempts
	}
	sent := map[[2]string]int{}
	for _, e := range r.ledger {
		sent[[2]string{e.Protocol, e.Kind}]++
	}
	for k, n := range sent {
		if !active.Allowed[k[0]][k[1]] {
			t.Errorf("ledger has %s %q outside the allow-list", k[0], k[1])
		}
		if n > planned[k] {
			t.Errorf("ledger has %d %s %q, plan allows %d", n, k[0], k[1], planned[k])
		}
	}
	// Every connection went through the gate: one TCP connect per Hello
	// (a connect that failed has no Hello).
	if h := r.kinds()[kindHello]; r.connects() < h {
		t.Errorf("ledger has %d hello but %d tcp connect: a connection bypassed the gate", h, r.connects())
	}
	// The per-device rate covers connections too (virtual clock: exact).
	interval := time.Duration(float64(time.Second) / r.limits.PerDevicePPS)
	for i := 1; i < len(r.ledger); i++ {
		if d := r.ledger[i].Time.Sub(r.ledger[i-1].Time); d < interval {
			t.Errorf("ledger %d (%s %s) came %v after the one before: the per-device rate allows one per %v",
				i, r.ledger[i].Protocol, r.ledger[i].Kind, d, interval)
		}
	}
}

func netSplit(hostport string) (host, port string, err error) { return net.SplitHostPort(hostport) }

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
}

func (r runResult) kinds() map[string]int {
	m := map[string]int{}
	for _, e := range r.ledger {
		m[e.Kind]++
	}
	return m
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
	planned := map[string]int{}
	for _, p := range r.plan {
		planned[p.Kind] += p.MaxAttempts
	}
	for kind, n := range r.kinds() {
		if !active.Allowed["opcua"][kind] {
			t.Errorf("ledger has kind %q outside the allow-list", kind)
		}
		if n > planned[kind] {
			t.Errorf("ledger has %d %q, plan allows %d", n, kind, planned[kind])
		}
	}
}

func netSplit(hostport string) (host, port string, err error) { return net.SplitHostPort(hostport) }

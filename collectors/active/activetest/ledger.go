package activetest

import (
	"testing"

	"github.com/otaudit/otaudit/collectors/active"
)

// LedgerWithinPlan fails t for every request let through that the dry-run
// plan did not announce with the same protocol, kind and detail, or
// announced fewer times.
func LedgerWithinPlan(t testing.TB, ledger []active.LedgerEntry, plan []active.PlannedRequest) {
	t.Helper()
	budget := map[string]int{}
	for _, p := range plan {
		budget[p.Protocol+"/"+p.Kind+"/"+p.Detail] += p.MaxAttempts
	}
	for _, e := range ledger {
		k := e.Protocol + "/" + e.Kind + "/" + e.Detail
		if budget[k] <= 0 {
			t.Errorf("ledger entry %s exceeds the plan", k)
		}
		budget[k]--
	}
}

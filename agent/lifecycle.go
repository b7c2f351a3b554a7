package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/store"
)

// commitLifecycle runs in a scan's commit phase, after its findings are
// recorded: it resolves the zone's open findings the scan covered but did
// not produce, reopens expired acceptances (store.ApplyScanLifecycle), and
// gives the scan's own findings the status they have in the store, so that
// the summary marks accepted and false-positive findings and --fail-on
// counts only open ones.
func (a *Agent) commitLifecycle(ctx context.Context, db *store.DB, scan *otaudit.Scan, res *ScanResult, collected map[string]bool) error {
	cov := store.ScanCoverage{
		ScanID:   scan.ID,
		Complete: scan.Status == otaudit.ScanComplete,
		Now:      a.now(),
	}
	for c, ran := range collected {
		if ran {
			cov.Collectors = append(cov.Collectors, c)
		}
	}
	slices.Sort(cov.Collectors)
	for _, f := range res.Report.Findings {
		cov.Produced = append(cov.Produced, findingID(f))
	}
	changes, err := db.ApplyScanLifecycle(ctx, cov)
	if err != nil {
		return err
	}
	log := a.logger().With("scan", scan.ID, "zone", scan.Zone)
	for _, c := range changes {
		log.Info("finding status changed by scan", "finding", c.FindingID, "check", c.CheckID,
			"asset", c.AssetKey, "from", c.From, "to", c.To, "note", c.Note)
	}
	if len(res.Report.Findings) == 0 {
		return nil
	}
	stored, err := db.Findings(ctx, store.FindingFilter{Zone: scan.Zone, Now: cov.Now})
	if err != nil {
		return err
	}
	byID := make(map[string]*otaudit.Finding, len(stored))
	for i := range stored {
		byID[stored[i].ID] = &stored[i]
	}
	for i := range res.Report.Findings {
		f := &res.Report.Findings[i]
		if s, ok := byID[findingID(*f)]; ok {
			f.Status, f.StatusReason, f.StatusBy, f.StatusUntil = s.Status, s.StatusReason, s.StatusBy, s.StatusUntil
		}
	}
	return nil
}

func findingID(f otaudit.Finding) string {
	if f.ID != "" {
		return f.ID
	}
	return otaudit.FindingID(f.CheckID, f.AssetKey, f.Key)
}

// Triage is one decision about a finding, taken from the command line.
type Triage struct {
	Status otaudit.FindingStatus
	Reason string
	By     string
	// Until is when an acceptance expires; zero means never.
	Until time.Time
}

// ErrNoSuchFinding means the ID names no finding in the store.
var ErrNoSuchFinding = errors.New("no such finding")

// SetFindingStatus records a triage decision on the finding id and returns
// the finding as stored. It never creates a store: without one it fails
// with ErrNoDatabase. An unknown id fails with ErrNoSuchFinding, naming the
// id and the store file; a refused change with store.ErrInvalidChange.
// The decision is timed by the agent's clock (Now).
func (a *Agent) SetFindingStatus(ctx context.Context, id string, t Triage) (f otaudit.Finding, err error) {
	if _, serr := os.Stat(a.DBPath); errors.Is(serr, fs.ErrNotExist) {
		return f, fmt.Errorf("%w at %s: run `otaudit scan` (or `otaudit demo`) first, or pass --db", ErrNoDatabase, a.DBPath)
	}
	id = strings.TrimSpace(id)
	err = a.withStore(ctx, func(db *store.DB) error {
		f, err = db.ChangeFindingStatus(ctx, id, store.StatusChange{
			Status: t.Status, Reason: t.Reason, By: t.By, Until: t.Until, At: a.now(),
		})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return f, fmt.Errorf("finding %q: %w in %s (list the IDs with `otaudit findings --db %s`)",
			id, ErrNoSuchFinding, a.DBPath, a.DBPath)
	}
	return f, err
}

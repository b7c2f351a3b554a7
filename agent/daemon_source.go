package agent

import (
	"context"
	"io"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/report"
	"github.com/otaudit/otaudit/store"
)

// The daemon answers the HTTP API's reads (agent/api.Source) with the agent
// of the configuration in force. Every read opens the store read-only for
// its own duration, exactly like the CLI's read commands.

// Assets lists the inventory.
func (d *Daemon) Assets(ctx context.Context) ([]otaudit.Asset, error) { return d.Agent().Assets(ctx) }

// Findings lists findings matching f.
func (d *Daemon) Findings(ctx context.Context, f store.FindingFilter) ([]otaudit.Finding, error) {
	return d.Agent().Findings(ctx, f)
}

// Finding returns one finding with its history.
func (d *Daemon) Finding(ctx context.Context, id string) (otaudit.Finding, []otaudit.FindingEvent, error) {
	return d.Agent().Finding(ctx, id)
}

// Scores returns the zone scores of the latest scored scan.
func (d *Daemon) Scores(ctx context.Context) ([]otaudit.ZoneScore, error) {
	return d.Agent().Scores(ctx)
}

// Scans lists every scan.
func (d *Daemon) Scans(ctx context.Context) ([]otaudit.Scan, error) { return d.Agent().Scans(ctx) }

// Baseline returns the zone's baseline; ErrNoBaseline when none is set.
func (d *Daemon) Baseline(ctx context.Context) (*otaudit.Baseline, error) {
	return d.Agent().Baseline(ctx)
}

// WriteReport renders the zone's HTML report to w.
func (d *Daemon) WriteReport(ctx context.Context, w io.Writer) error {
	data, err := d.Agent().ReportData(ctx)
	if err != nil {
		return err
	}
	return report.Render(w, data)
}

// OutboxPending is the number of items waiting for delivery.
func (d *Daemon) OutboxPending(ctx context.Context) (int, error) {
	var st store.OutboxStats
	err := d.Agent().read(ctx, func(db *store.DB) error {
		var err error
		st, err = db.OutboxStats(ctx)
		return err
	})
	return st.Items, err
}

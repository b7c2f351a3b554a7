package agent

import (
	"context"
	"fmt"
	"net/netip"
	"slices"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/demo"
	"github.com/otaudit/otaudit/agent/report"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// ReportData gathers what the HTML report of the agent's zone shows, from
// the store opened read-only: the zone's scans, findings and latest scores,
// the whole inventory, and the remote sessions and boundary-crossing flows
// of the zone's latest scored scan.
//
// The store does not keep zone configurations, so the zone comes from the
// agent's configuration. When none was given (the embedded default) and the
// store holds no scan of the default zone, the report follows the store's
// latest scan instead: the embedded demo zone for a demo scan, else a zone
// known only by its name and targets, with a note saying what is missing.
func (a *Agent) ReportData(ctx context.Context) (report.Data, error) {
	d := report.Data{Generated: a.now()}
	zone, err := a.Zone()
	if err != nil {
		return d, err
	}
	var scores []otaudit.ZoneScore
	err = a.read(ctx, func(db *store.DB) error {
		scans, err := db.Scans(ctx)
		if err != nil {
			return err
		}
		if scores, err = db.LatestScores(ctx); err != nil {
			return err
		}
		zone, d.Notes = a.reportZone(zone, scans, scores)
		for _, s := range scans {
			if s.Zone == zone.Name {
				d.Scans = append(d.Scans, s)
			}
		}
		if d.Assets, err = db.Assets(ctx); err != nil {
			return err
		}
		if d.Findings, err = db.Findings(ctx, store.FindingFilter{Zone: zone.Name}); err != nil {
			return err
		}
		for _, s := range scores {
			if s.Zone == zone.Name {
				d.Scores = append(d.Scores, s)
			}
		}
		if len(d.Scores) == 0 {
			return nil
		}
		d.Observations, err = reportObservations(ctx, db, zone, d.Assets, d.Scores[0].ScanID)
		return err
	})
	if err != nil {
		return d, fmt.Errorf("report zone %s: %w", zone.Name, err)
	}
	d.Zone = zone
	return d, nil
}

// reportZone decides which zone the report is about (see ReportData).
func (a *Agent) reportZone(configured otaudit.Zone, scans []otaudit.Scan, scores []otaudit.ZoneScore) (otaudit.Zone, []string) {
	scanned := slices.ContainsFunc(scans, func(s otaudit.Scan) bool { return s.Zone == configured.Name })
	explicit := a.Config != nil && a.Config.Path != configs.DefaultConfigPath
	switch {
	case scanned || len(scans) == 0:
		return configured, nil
	case explicit:
		return configured, []string{fmt.Sprintf("The store holds no scan of zone %q, the zone of %s.", configured.Name, a.config().Path)}
	}
	latest := scans[len(scans)-1]
	if latest.Mode == "demo" {
		if cfg, err := configs.Parse("demo zone (embedded)", demo.ZoneYAML, ""); err == nil {
			if z, err := cfg.ZoneModel(); err == nil && z.Name == latest.Zone {
				return z, nil
			}
		}
	}
	// Only the name and the targets survive in the store; without the
	// configuration there are no address ranges, conduits or register.
	z := otaudit.Zone{Name: latest.Zone, PurdueLevel: -1}
	for _, s := range scores {
		if s.Zone != latest.Zone {
			continue
		}
		for _, f := range s.FRs {
			if f.FR >= otaudit.FR1 && f.FR <= otaudit.FR7 {
				z.SLTarget[f.FR-1] = f.Target
			}
		}
	}
	return z, []string{fmt.Sprintf("No zone configuration was given: this report shows zone %q as the store recorded it, "+
		"without its address ranges, conduits and asset register. Pass --config with the zone's file for the conduit map.", latest.Zone)}
}

// reportObservations keeps the remote sessions of scanID and the flows
// that cross the zone boundary; flows inside the zone are most of a
// capture and the report does not draw them.
func reportObservations(ctx context.Context, db *store.DB, zone otaudit.Zone, assets []otaudit.Asset, scanID uint64) ([]otaudit.Observation, error) {
	assetZone := map[netip.Addr]string{}
	for _, x := range assets {
		assetZone[x.IP.Unmap()] = x.Zone
	}
	inside := func(ip netip.Addr) bool {
		if z, ok := assetZone[ip.Unmap()]; ok {
			return z != ""
		}
		return zone.Contains(ip)
	}
	var out []otaudit.Observation
	err := db.Observations(ctx, scanID, func(o otaudit.Observation) error {
		switch {
		case o.Kind == otaudit.KindRemoteSession && o.RemoteSession != nil:
			out = append(out, o)
		case o.Kind == otaudit.KindFlow && o.Flow != nil && zone.Bounded() && inside(o.Flow.Client) != inside(o.Flow.Server):
			out = append(out, o)
		}
		return nil
	})
	return out, err
}

package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/store"
)

// The approved state of a zone: its drift baseline (kept in the store as
// the JSON of otaudit.Baseline, under the zone's name) and the asset
// register an owner reviews and approves.

// ErrNoBaseline means the zone has no baseline yet.
var ErrNoBaseline = errors.New("no baseline")

// ErrNoScan means no scan fits the request (none of the zone, or the one
// named cannot be used).
var ErrNoScan = errors.New("no usable scan")

// BaselineRequest says which scan becomes the zone's baseline and who
// approved it.
type BaselineRequest struct {
	// FromScan is the scan to record; 0 means the latest complete scan of
	// the zone.
	FromScan uint64
	By, Note string
}

// SetBaseline records the zone's approved state as one scan saw it: that
// scan's observations are read back and its inventory rebuilt, so that the
// baseline is exactly what the scan saw rather than the inventory merged
// over every scan since.
func (a *Agent) SetBaseline(ctx context.Context, req BaselineRequest) (*otaudit.Baseline, error) {
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	if err := a.requireDatabase(); err != nil {
		return nil, err
	}
	var b otaudit.Baseline
	err = a.withStore(ctx, func(db *store.DB) error {
		scan, err := pickScan(ctx, db, zone.Name, req.FromScan, true)
		if err != nil {
			return err
		}
		if b, err = zoneStateOf(ctx, db, &zone, scan.ID); err != nil {
			return err
		}
		b.Created, b.ApprovedBy, b.Note = a.now(), req.By, req.Note
		doc, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("baseline of zone %s: encode: %w", zone.Name, err)
		}
		return db.PutBaseline(ctx, zone.Name, doc)
	})
	if err != nil {
		return nil, err
	}
	a.logger().Info("baseline set", "zone", zone.Name, "scan", b.ScanID, "assets", len(b.Assets),
		"boundary_flows", len(b.BoundaryFlows), "remote_paths", len(b.RemotePaths), "writers", len(b.Writers))
	return &b, nil
}

// Baseline returns the zone's baseline; ErrNoBaseline when none is set.
func (a *Agent) Baseline(ctx context.Context) (*otaudit.Baseline, error) {
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	var b *otaudit.Baseline
	err = a.read(ctx, func(db *store.DB) error {
		b, err = loadBaseline(ctx, db, zone.Name)
		return err
	})
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("zone %s: %w: run `otaudit baseline set` after a scan that shows the approved state", zone.Name, ErrNoBaseline)
	}
	return b, nil
}

// BaselineDiff compares the zone's baseline with what scanID saw (0: the
// latest scan of the zone that read anything).
func (a *Agent) BaselineDiff(ctx context.Context, scanID uint64) (checks.DriftReport, error) {
	zone, err := a.Zone()
	if err != nil {
		return checks.DriftReport{}, err
	}
	var rep checks.DriftReport
	err = a.read(ctx, func(db *store.DB) error {
		b, err := loadBaseline(ctx, db, zone.Name)
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("zone %s: %w: run `otaudit baseline set` first", zone.Name, ErrNoBaseline)
		}
		scan, err := pickScan(ctx, db, zone.Name, scanID, false)
		if err != nil {
			return err
		}
		current, err := zoneStateOf(ctx, db, &zone, scan.ID)
		if err != nil {
			return err
		}
		rep = checks.Drift(b, current)
		return nil
	})
	return rep, err
}

// loadBaseline reads the zone's baseline from db; nil, nil when none.
func loadBaseline(ctx context.Context, db *store.DB, zone string) (*otaudit.Baseline, error) {
	doc, err := db.Baseline(ctx, zone)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var b otaudit.Baseline
	if err := json.Unmarshal(doc, &b); err != nil {
		return nil, fmt.Errorf("baseline of zone %s: decode: %w", zone, err)
	}
	return &b, nil
}

// zoneStateOf rebuilds what scanID saw of the zone, in baseline form.
func zoneStateOf(ctx context.Context, db *store.DB, zone *otaudit.Zone, scanID uint64) (otaudit.Baseline, error) {
	var obs []otaudit.Observation
	if err := db.Observations(ctx, scanID, func(o otaudit.Observation) error {
		obs = append(obs, o)
		return nil
	}); err != nil {
		return otaudit.Baseline{}, err
	}
	if len(obs) == 0 {
		return otaudit.Baseline{}, fmt.Errorf("scan %d: %w: it stored no observations", scanID, ErrNoScan)
	}
	b := checks.BuildBaseline(zone, BuildInventory(zone, obs), obs)
	b.ScanID = scanID
	return b, nil
}

// pickScan returns the scan named by id, or the zone's latest usable one:
// complete only when completeOnly, else complete or incomplete (an
// interrupted scan still committed what it read).
func pickScan(ctx context.Context, db *store.DB, zone string, id uint64, completeOnly bool) (otaudit.Scan, error) {
	usable := func(s otaudit.Scan) bool {
		return s.Status == otaudit.ScanComplete || !completeOnly && s.Status == otaudit.ScanIncomplete
	}
	if id != 0 {
		s, err := db.Scan(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return s, fmt.Errorf("scan %d: %w: there is no such scan (see `otaudit scans`)", id, ErrNoScan)
		}
		if err != nil {
			return s, err
		}
		if s.Zone != zone {
			return s, fmt.Errorf("scan %d: %w: it scanned zone %q, the configuration is zone %q", id, ErrNoScan, s.Zone, zone)
		}
		if s.Status != otaudit.ScanComplete && s.Status != otaudit.ScanIncomplete {
			return s, fmt.Errorf("scan %d: %w: it is %s", id, ErrNoScan, s.Status)
		}
		return s, nil
	}
	scans, err := db.Scans(ctx)
	if err != nil {
		return otaudit.Scan{}, err
	}
	for _, s := range slices.Backward(scans) {
		if s.Zone == zone && usable(s) {
			return s, nil
		}
	}
	what := "scan"
	if completeOnly {
		what = "complete scan"
	}
	return otaudit.Scan{}, fmt.Errorf("zone %s: %w: the store holds no %s of it; run `otaudit scan` first", zone, ErrNoScan, what)
}

// requireDatabase fails with ErrNoDatabase rather than let a write phase
// create an empty store that a later command would find.
func (a *Agent) requireDatabase() error {
	if _, err := os.Stat(a.DBPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w at %s: run `otaudit scan` (or `otaudit demo`) first, or pass --db", ErrNoDatabase, a.DBPath)
	}
	return nil
}

// RegisterFromInventory proposes the zone's asset register from the
// current inventory, for the owner to review, complete and approve: one
// entry per asset inside the zone, with what the devices said about
// themselves (the OUI owner when a device gave no vendor). A MAC that
// several addresses share is a router's and is left out.
func (a *Agent) RegisterFromInventory(ctx context.Context) ([]otaudit.RegisteredAsset, error) {
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	assets, err := a.Assets(ctx)
	if err != nil {
		return nil, err
	}
	ipsPerMAC := map[string]int{}
	for _, x := range assets {
		for _, m := range x.MACs {
			ipsPerMAC[m]++
		}
	}
	out := []otaudit.RegisteredAsset{}
	for _, x := range assets {
		if x.Zone != zone.Name || !x.IP.IsValid() {
			continue
		}
		e := otaudit.RegisteredAsset{IP: x.IP.Unmap(), Name: x.Name, Vendor: cmp.Or(x.Vendor, x.MACVendor),
			Model: x.Model, Firmware: x.Firmware, Role: x.Role}
		// One MAC only: two means a conflict the owner must settle first.
		if len(x.MACs) == 1 && ipsPerMAC[x.MACs[0]] == 1 {
			e.MAC = x.MACs[0]
		}
		out = append(out, e)
	}
	slices.SortFunc(out, func(p, q otaudit.RegisteredAsset) int { return p.IP.Compare(q.IP) })
	return out, nil
}

// RegisterFromConfig returns the register the zone configuration declares
// (inline entries, then the CSV it names).
func (a *Agent) RegisterFromConfig() ([]otaudit.RegisteredAsset, error) {
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	if zone.Register == nil {
		return []otaudit.RegisteredAsset{}, nil
	}
	return zone.Register, nil
}

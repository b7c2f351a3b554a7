package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/collectors/pcap"
)

// LiveRequest says what one live passive scan listens to.
type LiveRequest struct {
	// Interface is the capture interface (a SPAN or mirror port);
	// empty means the configuration's capture.interface.
	Interface string
	// Duration is how long to listen; it must be positive.
	Duration time.Duration
	// FullPayload turns the kernel filter off (pcap.LiveOptions).
	FullPayload bool
	// Backend is the capture backend (pcap.BackendSocket or
	// pcap.BackendAFPacket); empty means the configuration's
	// capture.backend, and the socket when that is empty too.
	Backend string
}

// LiveScan listens on an interface for req.Duration, then evaluates the
// zone and commits the scan exactly like Scan does for capture files. The
// capture only receives: nothing is sent on the interface. Ending ctx
// before the duration commits what was seen as an incomplete scan and
// returns ctx's error; without CAP_NET_RAW it fails before the scan is
// begun (a *pcap.PermissionError).
func (a *Agent) LiveScan(ctx context.Context, req LiveRequest) (*ScanResult, error) {
	log := a.logger()
	if _, err := checks.Embedded(); err != nil {
		return nil, fmt.Errorf("check catalog: %w", err)
	}
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	iface := req.Interface
	if iface == "" {
		iface = a.config().Capture.Interface
	}
	if iface == "" {
		return nil, fmt.Errorf("live scan of zone %s: no interface: give --interface IFACE or set capture.interface in the configuration", zone.Name)
	}
	backend := req.Backend
	if backend == "" {
		backend = a.config().Capture.Backend
	}
	if req.Duration <= 0 {
		return nil, fmt.Errorf("live scan of zone %s on %s: the capture needs a positive duration", zone.Name, iface)
	}
	if err := pcap.CheckBackend(backend); err != nil {
		return nil, fmt.Errorf("live scan of zone %s on %s: %w", zone.Name, iface, err)
	}
	source := "live:" + iface
	scan := otaudit.Scan{Zone: zone.Name, Mode: "passive", Started: a.now(), Sources: []string{source}}
	judge, approved, err := a.beginScan(ctx, &scan)
	if err != nil {
		return nil, err
	}
	log = log.With("scan", scan.ID, "zone", zone.Name, "interface", iface)
	log.Info("live scan started", "duration", req.Duration)

	window, stop := context.WithTimeout(ctx, req.Duration)
	var obs []otaudit.Observation
	stats, capErr := pcap.Live(window, iface, pcap.LiveOptions{
		Options:     pcap.Options{Judge: judge, Logger: log},
		FullPayload: req.FullPayload,
		Backend:     backend,
	}, func(r *pcap.Result) error {
		obs = append(obs, r.Observations...)
		return nil
	})
	stop()
	interrupted := ctx.Err()
	scan.Stats.Packets, scan.Stats.Bytes, scan.Stats.DecodeErrors = stats.Packets, stats.Bytes, stats.DecodeErrors
	scan.Warnings = append(scan.Warnings, stats.Warnings...)

	res := &ScanResult{Zone: zone}
	collected := map[string]bool{}
	if stats.Packets > 0 {
		collected["pcap"] = true
	}
	evaluate(res, &scan, obs, collected, approved)
	scan.Finished = a.now()
	switch {
	case capErr != nil:
		scan.Status = otaudit.ScanFailed
		scan.Error = capErr.Error()
		if stats.Packets > 0 {
			scan.Status = otaudit.ScanIncomplete
		}
	case interrupted != nil:
		scan.Status = otaudit.ScanIncomplete
		scan.Error = "interrupted: " + interrupted.Error()
	case stats.Packets == 0:
		scan.Status = otaudit.ScanFailed
		scan.Error = fmt.Sprintf("%s: no frame seen on %s in %s", ErrNothingRead, iface, req.Duration)
	default:
		scan.Status = otaudit.ScanComplete
	}
	if err := a.commitScan(context.WithoutCancel(ctx), &scan, res, obs, collected, stats.Packets > 0); err != nil {
		return nil, err
	}
	res.Scan = scan
	log.Info("live scan finished", "status", scan.Status, "packets", stats.Packets, "kernel_drops", stats.Dropped,
		"assets", len(res.Assets), "findings", len(res.Report.Findings))
	switch {
	case capErr != nil:
		return res, capErr
	case interrupted != nil:
		return res, interrupted
	case stats.Packets == 0:
		return res, ErrNothingRead
	}
	return res, nil
}

// IsPermissionError reports whether err says the capture lacks CAP_NET_RAW.
func IsPermissionError(err error) bool {
	var pe *pcap.PermissionError
	return errors.As(err, &pe)
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
	"github.com/otaudit/otaudit/collectors/pcap"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// ScanRequest says what one scan reads.
type ScanRequest struct {
	// Pcaps are capture files or directories of captures; empty means the
	// configuration's capture files.
	Pcaps []string
	// Mode is recorded on the scan: "passive" (default) or "demo".
	Mode string
}

// ScanResult is what one scan produced, as committed to the store.
type ScanResult struct {
	Scan   otaudit.Scan
	Zone   otaudit.Zone
	Assets []otaudit.Asset
	Report checks.Report
	Score  otaudit.ZoneScore
	// Active is what an active scan planned and sent; nil for passive
	// scans (agent/active.go).
	Active *ActiveRun
}

// SourceError is a capture that could not be analysed; the scan goes on
// with the others and reports every one at the end.
type SourceError struct{ Errs []error }

func (e *SourceError) Error() string {
	msgs := make([]string, len(e.Errs))
	for i, err := range e.Errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "\n")
}

func (e *SourceError) Unwrap() []error { return e.Errs }

// Scan reads the requested captures, evaluates the zone and commits the
// scan. A source that fails is reported (SourceError) after everything else
// was committed; a scan that read nothing at all fails with ErrNothingRead.
func (a *Agent) Scan(ctx context.Context, req ScanRequest) (*ScanResult, error) {
	log := a.logger()
	if _, err := checks.Embedded(); err != nil {
		return nil, fmt.Errorf("check catalog: %w", err)
	}
	zone, err := a.Zone()
	if err != nil {
		return nil, err
	}
	sources := req.Pcaps
	if len(sources) == 0 {
		sources = a.config().Capture.Files
	}
	if len(sources) == 0 {
		return nil, fmt.Errorf("scan zone %s: nothing to read: give --pcap FILE or list capture files in the configuration", zone.Name)
	}
	mode := req.Mode
	if mode == "" {
		mode = "passive"
	}

	scan := otaudit.Scan{Zone: zone.Name, Mode: mode, Started: a.now(), Sources: sources}
	judge, approved, err := a.beginScan(ctx, &scan)
	if err != nil {
		return nil, err
	}
	log = log.With("scan", scan.ID, "zone", zone.Name)
	log.Info("scan started", "sources", len(sources))
	if a.afterBegin != nil {
		a.afterBegin()
	}

	obs, read, srcErrs, interrupted := a.collectCaptures(ctx, sources, judge, &scan)

	res := &ScanResult{Zone: zone}
	collected := map[string]bool{}
	if read > 0 {
		collected["pcap"] = true
	}
	evaluate(res, &scan, obs, collected, approved)
	scan.Finished = a.now()
	switch {
	case read == 0 && interrupted == nil:
		scan.Status = otaudit.ScanFailed
		scan.Error = ErrNothingRead.Error()
	case interrupted != nil:
		scan.Status = otaudit.ScanIncomplete
		scan.Error = "interrupted: " + interrupted.Error()
	case len(srcErrs) > 0:
		scan.Status = otaudit.ScanIncomplete
		scan.Error = fmt.Sprintf("%d source(s) could not be read", len(srcErrs))
	default:
		scan.Status = otaudit.ScanComplete
	}

	// The results are committed even when the caller gave up: Ctrl-C must
	// not throw away what was already analysed.
	commitCtx := context.WithoutCancel(ctx)
	if err := a.commitScan(commitCtx, &scan, res, obs, collected, read > 0); err != nil {
		return nil, err
	}
	res.Scan = scan
	log.Info("scan finished", "status", scan.Status, "packets", scan.Stats.Packets,
		"assets", len(res.Assets), "findings", len(res.Report.Findings))

	switch {
	case interrupted != nil:
		return res, interrupted
	case read == 0:
		if len(srcErrs) > 0 {
			return res, fmt.Errorf("%w: %w", ErrNothingRead, &SourceError{Errs: srcErrs})
		}
		return res, ErrNothingRead
	case len(srcErrs) > 0:
		return res, &SourceError{Errs: srcErrs}
	}
	return res, nil
}

// commitScan writes one scan's results — when it has any — and its final
// record in one write phase. Passive and active scans share it
// (agent/active.go).
func (a *Agent) commitScan(ctx context.Context, scan *otaudit.Scan, res *ScanResult, obs []otaudit.Observation, collected map[string]bool, withResults bool) error {
	err := a.withStore(ctx, func(db *store.DB) error {
		if withResults {
			if err := db.AddObservations(ctx, scan.ID, obs); err != nil {
				return err
			}
			if err := db.UpsertAssets(ctx, scan.ID, res.Assets); err != nil {
				return err
			}
			if err := db.RecordFindings(ctx, scan.ID, res.Report.Findings); err != nil {
				return err
			}
			if err := db.PutScores(ctx, scan.ID, []otaudit.ZoneScore{res.Score}); err != nil {
				return err
			}
		}
		// Resolve what this scan covered but no longer sees, reopen expired
		// acceptances (agent/lifecycle.go).
		if err := a.commitLifecycle(ctx, db, scan, res, collected); err != nil {
			return err
		}
		return db.FinishScan(ctx, scan)
	})
	if err != nil {
		return fmt.Errorf("scan %d: commit: %w", scan.ID, err)
	}
	return nil
}

// beginScan records scan as running in one write phase and returns what
// the scan needs from the store: the credential judge under the store's key
// and the zone's baseline. The drift checks measure against the baseline as
// it was when the scan started; an unreadable one becomes a warning and
// leaves them NOT_ASSESSED rather than stop the scan.
func (a *Agent) beginScan(ctx context.Context, scan *otaudit.Scan) (otaudit.CredentialJudge, *otaudit.Baseline, error) {
	judge := otaudit.CredentialJudge{Defaults: configs.DefaultCredentials()}
	var approved *otaudit.Baseline
	err := a.withStore(ctx, func(db *store.DB) error {
		var err error
		if judge.Key, err = db.CredentialKey(); err != nil {
			return err
		}
		if approved, err = loadBaseline(ctx, db, scan.Zone); err != nil {
			scan.Warnings = append(scan.Warnings, err.Error())
			a.logger().Warn("baseline not used", "zone", scan.Zone, "error", err)
		}
		return db.BeginScan(ctx, scan)
	})
	return judge, approved, err
}

// evaluate builds the scan's inventory, runs the checks and scores the
// zone, for passive and active scans alike. Attestations are judged at the
// scan's start (real time); evidence times judge certificates.
func evaluate(res *ScanResult, scan *otaudit.Scan, obs []otaudit.Observation, collected map[string]bool, approved *otaudit.Baseline) {
	zone := res.Zone
	if approved != nil {
		collected["baseline"] = true
	}
	res.Assets = BuildInventory(&zone, obs)
	res.Report = checks.Evaluate(checks.Input{Zone: zone, Assets: res.Assets, Observations: obs, Collected: collected, Baseline: approved})
	res.Score = checks.ScoreAt(zone, res.Report, scan.ID, scan.Started)
	for _, at := range checks.UnknownAttestations(zone) {
		scan.Warnings = append(scan.Warnings, fmt.Sprintf("attestation for %s names no requirement of IEC 62443-3-3; it is ignored", at.Requirement))
	}
	scan.Stats.Observations = int64(len(obs))
	scan.Stats.Assets = int64(len(res.Assets))
	scan.Stats.Findings = int64(len(res.Report.Findings))
}

// collectCaptures analyses every capture in sources. It returns the
// observations, how many captures yielded packets, the errors of sources
// that failed, and the context error if the scan was interrupted.
func (a *Agent) collectCaptures(ctx context.Context, sources []string, judge otaudit.CredentialJudge, scan *otaudit.Scan) (obs []otaudit.Observation, read int, srcErrs []error, interrupted error) {
	log := a.logger()
	progress := a.captureProgress(sources)
	defer progress.finish()
	for _, src := range sources {
		files, explicit, err := expandSource(src)
		if err != nil {
			srcErrs = append(srcErrs, err)
			scan.Warnings = append(scan.Warnings, err.Error())
			continue
		}
		for _, file := range files {
			if err := ctx.Err(); err != nil {
				return obs, read, srcErrs, err
			}
			r, err := analyzeCapture(ctx, file, pcap.Options{Judge: judge, Logger: log}, progress)
			if r != nil {
				scan.Stats.Packets += r.Stats.Packets
				scan.Stats.Bytes += r.Stats.Bytes
				scan.Stats.DecodeErrors += r.Stats.DecodeErrors
				scan.Warnings = append(scan.Warnings, r.Stats.Warnings...)
				for _, w := range r.Stats.Warnings {
					log.Warn(w)
				}
				if r.Stats.Packets > 0 {
					read++
					obs = append(obs, r.Observations...)
				}
			}
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return obs, read, srcErrs, ctx.Err()
			}
			var ferr *pcap.FormatError
			if !explicit && errors.As(err, &ferr) {
				// A directory may hold notes, checksums or other files.
				msg := fmt.Sprintf("skipped %s: %v", file, err)
				scan.Warnings = append(scan.Warnings, msg)
				log.Warn("skipped a file that is not a capture", "file", file, "error", err)
				continue
			}
			srcErrs = append(srcErrs, err)
			scan.Warnings = append(scan.Warnings, err.Error())
		}
	}
	return obs, read, srcErrs, nil
}

// expandSource turns a path into the capture files to read: the file
// itself, or the regular files of a directory in capture time order (first
// packet, then name; see pcap.OrderCaptures).
func expandSource(path string) (files []string, explicit bool, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, false, fmt.Errorf("pcap %s: %w", path, unwrapPathError(err))
	}
	if !fi.IsDir() {
		return []string{path}, true, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, false, fmt.Errorf("pcap %s: read directory: %w", path, unwrapPathError(err))
	}
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(path, e.Name()))
		}
	}
	sort.Strings(files)
	files = pcap.OrderCaptures(files) // rotated files in capture time order
	if len(files) == 0 {
		return nil, false, fmt.Errorf("pcap %s: directory holds no files", path)
	}
	return files, false, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

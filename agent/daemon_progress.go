package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/pcap"
)

// Progress of long scans, for the CLI's progress bar (Agent.Progress). The
// resident agent leaves it unset: a daemon's stderr is a log.

// ScanProgress says how far a scan has got.
type ScanProgress struct {
	// Phase is "capture" (Done and Total count bytes of capture files read)
	// or "probe" (they count probes: targets × probers).
	Phase       string
	Done, Total int64
	// Finished is set on the last report of a phase.
	Finished bool
}

// Progress phases.
const (
	ProgressCapture = "capture"
	ProgressProbe   = "probe"
)

// progressTracker serialises reports: the active scheduler probes several
// devices at once.
type progressTracker struct {
	mu          sync.Mutex
	report      func(ScanProgress)
	phase       string
	done, total int64
}

// newProgress returns a tracker for one phase, or nil (which ignores every
// call) when nobody listens.
func (a *Agent) newProgress(phase string, total int64) *progressTracker {
	if a.Progress == nil {
		return nil
	}
	p := &progressTracker{report: a.Progress, phase: phase, total: total}
	p.report(ScanProgress{Phase: phase, Total: total})
	return p
}

func (p *progressTracker) add(n int64) {
	if p == nil || n == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.report(ScanProgress{Phase: p.phase, Done: p.done, Total: p.total})
}

func (p *progressTracker) finish() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.report(ScanProgress{Phase: p.phase, Done: p.done, Total: p.total, Finished: true})
}

// captureProgress starts the capture phase over the bytes of every file the
// sources name; nil when nobody listens.
func (a *Agent) captureProgress(sources []string) *progressTracker {
	if a.Progress == nil {
		return nil
	}
	var total int64
	for _, src := range sources {
		files, _, err := expandSource(src)
		if err != nil {
			continue // the scan reports it
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil {
				total += fi.Size()
			}
		}
	}
	return a.newProgress(ProgressCapture, total)
}

// analyzeCapture is pcap.AnalyzeFile, counting the bytes read when p is set.
func analyzeCapture(ctx context.Context, file string, opts pcap.Options, p *progressTracker) (*pcap.Result, error) {
	if p == nil {
		return pcap.AnalyzeFile(ctx, file, opts)
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("pcap %s: open: %w", filepath.Base(file), err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return pcap.AnalyzeFile(ctx, file, opts) // reports it as pcap does
	}
	return pcap.Analyze(ctx, &countingReader{r: f, p: p}, file, opts)
}

type countingReader struct {
	r io.Reader
	p *progressTracker
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

// withProbeProgress wraps probers so that every (target, prober) pair the
// scheduler finishes, or finds nothing to send for, counts one probe.
func (a *Agent) withProbeProgress(probers []active.Prober, targets int) ([]active.Prober, *progressTracker) {
	perDevice := 0
	for _, pr := range probers {
		if _, ok := pr.(active.Sweeper); !ok {
			perDevice++
		}
	}
	p := a.newProgress(ProgressProbe, int64(targets*perDevice))
	if p == nil {
		return probers, nil
	}
	out := make([]active.Prober, len(probers))
	for i, pr := range probers {
		if _, ok := pr.(active.Sweeper); ok {
			// The scheduler recognises a sweeper by its type: it stays
			// unwrapped, and progress counts device probes only.
			out[i] = pr
			continue
		}
		out[i] = progressProber{Prober: pr, p: p}
	}
	return out, p
}

type progressProber struct {
	active.Prober
	p *progressTracker
}

func (w progressProber) Plan(t active.Target, l active.Limits) []active.PlannedRequest {
	plan := w.Prober.Plan(t, l)
	if len(plan) == 0 {
		w.p.add(1) // the scheduler skips the pair
	}
	return plan
}

func (w progressProber) Probe(ctx context.Context, s *active.Session, t active.Target, emit func(otaudit.Observation)) error {
	defer w.p.add(1)
	return w.Prober.Probe(ctx, s, t, emit)
}

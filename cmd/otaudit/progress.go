package main

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/otaudit/otaudit/agent"
)

// progressDelay is how long a phase runs before its bar appears: a scan
// that ends sooner shows nothing, so short scans do not flicker.
const progressDelay = 500 * time.Millisecond

// scanProgress returns the agent's progress callback drawing a bar on w —
// bytes of capture read, or probes done (targets × probers) — or nil when
// w is not a terminal: logs, pipes and CI output stay free of it.
func scanProgress(w io.Writer) func(agent.ScanProgress) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return newProgressDrawer(f, time.Now).report
}

// progressDrawer turns ScanProgress reports into one bar per phase. Each
// bar starts with its phase, so that its rate and time estimate are right,
// but writes through a gate that opens only once the phase has run for
// progressDelay. The agent serialises its reports: no lock is needed.
type progressDrawer struct {
	w          io.Writer
	now        func() time.Time
	throttle   time.Duration
	bar        *progressbar.ProgressBar
	gate       *progressGate
	phase      string
	phaseStart time.Time
	// shown counts bars that became visible, for tests.
	shown int
}

func newProgressDrawer(w io.Writer, now func() time.Time) *progressDrawer {
	return &progressDrawer{w: w, now: now, throttle: 100 * time.Millisecond}
}

// progressGate swallows a bar's output until it is opened.
type progressGate struct {
	w    io.Writer
	open bool
}

func (g *progressGate) Write(p []byte) (int, error) {
	if !g.open {
		return len(p), nil
	}
	return g.w.Write(p)
}

func (d *progressDrawer) report(p agent.ScanProgress) {
	if p.Phase != d.phase || d.bar == nil {
		d.close()
		d.phase, d.phaseStart = p.Phase, d.now()
		if p.Total <= 0 || p.Finished {
			return
		}
		d.gate = &progressGate{w: d.w}
		d.bar = d.newBar(p)
	}
	if !d.gate.open && !p.Finished && d.now().Sub(d.phaseStart) >= progressDelay {
		d.gate.open = true
		d.shown++
	}
	_ = d.bar.Set64(min(p.Done, p.Total))
	if p.Finished {
		d.close()
	}
}

func (d *progressDrawer) close() {
	if d.bar != nil {
		_ = d.bar.Finish()
		d.bar, d.gate, d.phase = nil, nil, ""
	}
}

func (d *progressDrawer) newBar(p agent.ScanProgress) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(d.gate),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(d.throttle),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	}
	switch p.Phase {
	case agent.ProgressCapture:
		opts = append(opts, progressbar.OptionSetDescription("reading captures"), progressbar.OptionShowBytes(true),
			progressbar.OptionShowTotalBytes(true), progressbar.OptionShowCount())
	default:
		opts = append(opts, progressbar.OptionSetDescription("probing devices"), progressbar.OptionShowCount(),
			progressbar.OptionSetItsString("probes"))
	}
	return progressbar.NewOptions64(p.Total, opts...)
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit/agent"
)

func TestNoProgressBarWithoutATerminal(t *testing.T) {
	if scanProgress(&bytes.Buffer{}) != nil {
		t.Error("progress for a buffer")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if scanProgress(f) != nil {
		t.Error("progress for a regular file (stderr redirected to a log)")
	}
}

func TestProgressBarAppearsOnlyForLongPhases(t *testing.T) {
	var out bytes.Buffer
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	d := newProgressDrawer(&out, func() time.Time { return now })
	d.throttle = 0 // draw on every report

	// A phase that ends within the delay draws nothing.
	d.report(agent.ScanProgress{Phase: agent.ProgressCapture, Total: 1000})
	d.report(agent.ScanProgress{Phase: agent.ProgressCapture, Done: 1000, Total: 1000, Finished: true})
	if out.Len() != 0 || d.shown != 0 {
		t.Fatalf("short phase drew %q", out.String())
	}

	// A long one gets a bar in bytes.
	d.report(agent.ScanProgress{Phase: agent.ProgressCapture, Total: 4 << 20})
	now = now.Add(progressDelay)
	d.report(agent.ScanProgress{Phase: agent.ProgressCapture, Done: 1 << 20, Total: 4 << 20})
	if d.shown != 1 || !strings.Contains(out.String(), "reading captures") || !strings.Contains(out.String(), "MB") {
		t.Fatalf("long capture phase: shown %d, drew %q", d.shown, out.String())
	}
	d.report(agent.ScanProgress{Phase: agent.ProgressCapture, Done: 4 << 20, Total: 4 << 20, Finished: true})
	if d.bar != nil {
		t.Fatal("bar left open after the phase finished")
	}

	// Probes count targets × probers.
	out.Reset()
	d.report(agent.ScanProgress{Phase: agent.ProgressProbe, Total: 40})
	now = now.Add(progressDelay)
	d.report(agent.ScanProgress{Phase: agent.ProgressProbe, Done: 10, Total: 40})
	if d.shown != 2 || !strings.Contains(out.String(), "probing devices") || !strings.Contains(out.String(), "10/40") {
		t.Fatalf("probe phase: shown %d, drew %q", d.shown, out.String())
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/demo"
	"github.com/otaudit/otaudit/collectors/active"
	"github.com/otaudit/otaudit/collectors/pcap"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// daemonZone writes the demo zone with extra top-level sections and loads it.
func daemonZone(t *testing.T, dir, extra string) (string, *configs.Config) {
	t.Helper()
	path := filepath.Join(dir, "zone.yaml")
	if err := os.WriteFile(path, append(append([]byte{}, demo.ZoneYAML...), "\n"+extra...), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

var (
	demoCaptureOnce  sync.Once
	demoCaptureBytes []byte
	demoCaptureErr   error
)

// writeCapture writes the demo capture to path with the given mtime.
func writeCapture(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	demoCaptureOnce.Do(func() { demoCaptureBytes, demoCaptureErr = demo.Capture() })
	if demoCaptureErr != nil {
		t.Fatal(demoCaptureErr)
	}
	if err := os.WriteFile(path, demoCaptureBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func newTestDaemon(t *testing.T, dir string, cfgPath string, cfg *configs.Config) (*Daemon, *[]RunEvent) {
	t.Helper()
	a := &Agent{Config: cfg, DBPath: filepath.Join(dir, "otaudit.db"), Logger: slog.New(slog.DiscardHandler)}
	if err := a.withStore(context.Background(), func(*store.DB) error { return nil }); err != nil {
		t.Fatal(err)
	}
	d := NewDaemon(a, cfgPath)
	var events []RunEvent
	d.OnRun = func(ev RunEvent) { events = append(events, ev) }
	return d, &events
}

func scanSources(t *testing.T, a *Agent) [][]string {
	t.Helper()
	scans, err := a.Scans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, s := range scans {
		var names []string
		for _, src := range s.Sources {
			names = append(names, filepath.Base(src))
		}
		out = append(out, names)
	}
	return out
}

func TestDaemonReadsOnlyNewCaptureFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	capDir := filepath.Join(dir, "rotated")
	if err := os.Mkdir(capDir, 0o700); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-time.Hour)
	writeCapture(t, filepath.Join(capDir, "line1-0001.pcap"), old)
	writeCapture(t, filepath.Join(capDir, "line1-0002.pcap"), old)
	writeCapture(t, filepath.Join(capDir, ".line1-0003.pcap.tmp"), old) // hidden: a tool's temporary file
	cfgPath, cfg := daemonZone(t, dir, "capture:\n  files: [rotated]\nschedule:\n  interval: 1h\n")
	d, events := newTestDaemon(t, dir, cfgPath, cfg)

	d.RunOnce(ctx)
	d.RunOnce(ctx) // nothing new
	// A file still being written waits until it has settled.
	writeCapture(t, filepath.Join(capDir, "line1-0003.pcap"), time.Now())
	d.RunOnce(ctx)
	if err := os.Chtimes(filepath.Join(capDir, "line1-0003.pcap"), old, old); err != nil {
		t.Fatal(err)
	}
	d.RunOnce(ctx)

	want := [][]string{{"line1-0001.pcap", "line1-0002.pcap"}, {"line1-0003.pcap"}}
	if got := scanSources(t, d.Agent()); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("scans read %v, want %v", got, want)
	}
	var statuses []string
	for _, ev := range *events {
		statuses = append(statuses, ev.Mode+":"+ev.Status())
	}
	if want := "passive:complete passive:skipped passive:skipped passive:complete"; strings.Join(statuses, " ") != want {
		t.Fatalf("events %v, want %s", statuses, want)
	}

	// A restarted agent knows from the store what was read; a file
	// rewritten under the same name is new again.
	d2, _ := newTestDaemon(t, dir, cfgPath, cfg)
	writeCapture(t, filepath.Join(capDir, "line1-0002.pcap"), old.Add(time.Minute))
	d2.RunOnce(ctx)
	want = append(want, []string{"line1-0002.pcap"})
	if got := scanSources(t, d2.Agent()); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("after restart, scans read %v, want %v", got, want)
	}
	// A file that disappeared drops out of the record: it stays bounded by
	// the directory.
	if err := os.Remove(filepath.Join(capDir, "line1-0001.pcap")); err != nil {
		t.Fatal(err)
	}
	writeCapture(t, filepath.Join(capDir, "line1-0004.pcap"), old)
	d2.RunOnce(ctx)
	var recorded []string
	err := d2.Agent().read(ctx, func(db *store.DB) error {
		files, err := db.ProcessedCaptures(ctx, "cell-1")
		for _, f := range files {
			recorded = append(recorded, filepath.Base(f.Path))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "line1-0002.pcap line1-0003.pcap line1-0004.pcap"; strings.Join(recorded, " ") != want {
		t.Fatalf("recorded %v, want %s", recorded, want)
	}
}

func TestDaemonRereadsNamedCaptureFilesEveryRun(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeCapture(t, filepath.Join(dir, "plant.pcap"), time.Now())
	cfgPath, cfg := daemonZone(t, dir, "capture:\n  files: [plant.pcap, missing.pcap]\n")
	d, events := newTestDaemon(t, dir, cfgPath, cfg)
	d.RunOnce(ctx)
	d.RunOnce(ctx)
	want := [][]string{{"plant.pcap"}, {"plant.pcap"}}
	if got := scanSources(t, d.Agent()); !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("scans read %v, want %v", got, want)
	}
	for _, ev := range *events {
		if ev.Status() != "complete" || ev.Collector != "pcap" || ev.Result.Scan.Stats.Packets == 0 {
			t.Fatalf("event %+v: want a complete pcap scan that read packets", ev)
		}
	}
}

func TestDaemonReloadKeepsConfigurationOnError(t *testing.T) {
	dir := t.TempDir()
	cfgPath, cfg := daemonZone(t, dir, "schedule:\n  interval: 1h\n")
	d, _ := newTestDaemon(t, dir, cfgPath, cfg)
	first := d.Agent()

	if err := os.WriteFile(cfgPath, []byte("version: 1\nzone: {name: [broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var ce *configs.ConfigError
	if err := d.Reload(); !errors.As(err, &ce) {
		t.Fatalf("reload of a broken file: %v, want a ConfigError", err)
	}
	if d.Agent() != first {
		t.Fatal("a broken configuration replaced the running one")
	}

	if err := os.WriteFile(cfgPath, append(append([]byte{}, demo.ZoneYAML...), "\nschedule:\n  cron: \"*/5 * * * *\"\n"...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := d.Agent().Config.Schedule.Cron; got != "*/5 * * * *" {
		t.Fatalf("after reload, cron %q", got)
	}
	if first.Config.Schedule.Interval != time.Hour || first.Config.Schedule.Cron != "" {
		t.Fatal("reload changed the agent a scan in progress may still use")
	}

	d.ConfigPath = ""
	if err := d.Reload(); err == nil {
		t.Fatal("reload without a configuration file succeeded")
	}
}

func TestScheduleNext(t *testing.T) {
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	every := schedule{interval: 10 * time.Minute}
	if got := every.next(time.Time{}, now); !got.Equal(now) {
		t.Errorf("interval, first run: %s, want now", got)
	}
	if got := every.next(now.Add(-4*time.Minute), now); !got.Equal(now.Add(6 * time.Minute)) {
		t.Errorf("interval: %s, want 6 minutes on", got)
	}
	// A run that overran is followed at once, and only once.
	if got := every.next(now.Add(-time.Hour), now); !got.Equal(now) {
		t.Errorf("interval after an overrun: %s, want now", got)
	}
	c, err := parseCron("0 * * * *")
	if err != nil {
		t.Fatal(err)
	}
	if got := (schedule{cron: c}).next(time.Time{}, now); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("cron: %s, want the next full hour", got)
	}
	if got := (schedule{}).next(time.Time{}, now); !got.IsZero() {
		t.Errorf("no schedule: %s, want never", got)
	}
}

// activeZone is a zone on the loopback network with active probing on,
// allowed only on Saturdays 02:00-06:00 UTC.
func activeZone(t *testing.T, dir string) (string, *configs.Config) {
	t.Helper()
	yaml := `version: 1
zone:
  name: lab
  cidrs: [127.0.0.0/8]
active:
  enabled: true
  targets: [127.0.0.1]
  per_device_pps: 1000
  per_zone_pps: 1000
  timeout: 1s
  retries: 0
  credential_guessing: {enabled: false}
schedule:
  interval: 1h
  maintenance_windows:
    - {days: [sat], start: "02:00", end: "06:00"}
`
	path := filepath.Join(dir, "lab.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := configs.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, cfg
}

func TestDaemonProbesOnlyInsideMaintenanceWindows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfgPath, cfg := activeZone(t, dir)
	d, events := newTestDaemon(t, dir, cfgPath, cfg)
	monday := time.Date(2026, 3, 2, 3, 0, 0, 0, time.UTC)
	saturday := time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC)
	a := d.Agent()
	a.Now = func() time.Time { return monday }
	d.RunOnce(ctx)
	if scans := scanSources(t, a); len(scans) != 0 {
		t.Fatalf("outside the window the agent scanned: %v", scans)
	}
	a.Now = func() time.Time { return saturday }
	d.RunOnce(ctx)
	scans, err := a.Scans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) != 1 || scans[0].Mode != "active" || scans[0].Status != otaudit.ScanComplete {
		t.Fatalf("inside the window: scans %+v, want one complete active scan", scans)
	}
	if len(*events) != 2 || (*events)[0].Skipped == "" || (*events)[1].Status() != "complete" || (*events)[1].Collector != "active" {
		t.Fatalf("events %+v: want a skipped then a complete active scan", *events)
	}
}

func TestScanReportsCaptureProgress(t *testing.T) {
	dir := t.TempDir()
	capDir := filepath.Join(dir, "caps")
	if err := os.Mkdir(capDir, 0o700); err != nil {
		t.Fatal(err)
	}
	writeCapture(t, filepath.Join(capDir, "a.pcap"), time.Now())
	writeCapture(t, filepath.Join(capDir, "b.pcap"), time.Now())
	var total int64
	for _, n := range []string{"a.pcap", "b.pcap"} {
		fi, err := os.Stat(filepath.Join(capDir, n))
		if err != nil {
			t.Fatal(err)
		}
		total += fi.Size()
	}
	_, cfg := daemonZone(t, dir, "")
	var reports []ScanProgress
	a := &Agent{Config: cfg, DBPath: filepath.Join(dir, "o.db"), Progress: func(p ScanProgress) { reports = append(reports, p) }}
	if _, err := a.Scan(context.Background(), ScanRequest{Pcaps: []string{capDir}}); err != nil {
		t.Fatal(err)
	}
	if len(reports) < 3 {
		t.Fatalf("%d progress reports, want a start, progress and an end", len(reports))
	}
	first, last := reports[0], reports[len(reports)-1]
	if first.Phase != ProgressCapture || first.Done != 0 || first.Total != total {
		t.Fatalf("first report %+v, want capture 0 of %d", first, total)
	}
	if !last.Finished || last.Done != total {
		t.Fatalf("last report %+v, want finished at %d bytes", last, total)
	}
	for i := 1; i < len(reports); i++ {
		if reports[i].Done < reports[i-1].Done {
			t.Fatalf("progress went backwards: %+v then %+v", reports[i-1], reports[i])
		}
	}
}

func TestAnalyzeCaptureWithProgressReportsErrorsLikePcap(t *testing.T) {
	dir := t.TempDir()
	p := &progressTracker{report: func(ScanProgress) {}}
	_, err := analyzeCapture(context.Background(), filepath.Join(dir, "nope.pcap"), pcap.Options{}, p)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "pcap nope.pcap: open") {
		t.Fatalf("missing file: %v", err)
	}
	_, err = analyzeCapture(context.Background(), dir, pcap.Options{}, p)
	if err == nil || !strings.Contains(err.Error(), "directory") {
		t.Fatalf("directory: %v", err)
	}
	if p.done != 0 {
		t.Fatalf("counted %d bytes of nothing", p.done)
	}
}

func TestDaemonQueuesAndDeliversEveryScan(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeCapture(t, filepath.Join(dir, "plant.pcap"), time.Now())
	drop := filepath.Join(dir, "drop")
	cfgPath, cfg := daemonZone(t, dir, "capture:\n  files: [plant.pcap]\nexport:\n  - {format: json, directory: drop}\n")
	d, events := newTestDaemon(t, dir, cfgPath, cfg)

	// The share is not mounted: the results wait in the outbox.
	d.RunOnce(ctx)
	if ev := (*events)[0]; ev.Status() != "complete" || ev.OutboxPending < 1 {
		t.Fatalf("scan with the drop directory missing: %+v, want its results pending", ev)
	}
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	// The next scan delivers its own results.
	d.RunOnce(ctx)
	if ev := (*events)[1]; ev.Status() != "complete" {
		t.Fatalf("second scan: %+v", ev)
	}
	dropped, err := os.ReadDir(drop)
	if err != nil || len(dropped) == 0 {
		t.Fatalf("nothing dropped after the second scan: %v", err)
	}
	for _, e := range dropped {
		if strings.HasPrefix(e.Name(), ".") {
			t.Fatalf("temporary file left in the drop: %s", e.Name())
		}
	}
}

func TestDaemonDeliversWhatAPreviousRunLeft(t *testing.T) {
	dir := t.TempDir()
	writeCapture(t, filepath.Join(dir, "plant.pcap"), time.Now())
	drop := filepath.Join(dir, "drop")
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	// No schedule: the daemon only delivers.
	cfgPath, cfg := daemonZone(t, dir, "export:\n  - {format: json, directory: drop}\n")
	d, _ := newTestDaemon(t, dir, cfgPath, cfg)
	a := d.Agent()
	res, err := a.Scan(context.Background(), ScanRequest{Pcaps: []string{filepath.Join(dir, "plant.pcap")}})
	if err != nil {
		t.Fatal(err)
	}
	// Queued by an agent that stopped before it could deliver.
	if err := a.QueueDelivery(context.Background(), res.Scan.ID); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	deadline := time.After(time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for delivered := false; !delivered; {
		select {
		case <-tick.C:
			entries, err := os.ReadDir(drop)
			delivered = err == nil && len(entries) > 0
		case err := <-done:
			t.Fatalf("daemon ended: %v", err)
		case <-deadline:
			t.Fatal("queued results not delivered on start")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if scans := scanSources(t, a); len(scans) != 1 {
		t.Fatalf("a daemon without a schedule scanned: %v", scans)
	}
}

func TestDaemonReportsMissingCaptureSources(t *testing.T) {
	dir := t.TempDir()
	cfgPath, cfg := daemonZone(t, dir, "capture:\n  files: [nowhere/, gone.pcap]\n")
	d, events := newTestDaemon(t, dir, cfgPath, cfg)
	d.RunOnce(context.Background())
	if len(*events) != 1 || (*events)[0].Status() != "error" || !strings.Contains(fmt.Sprint((*events)[0].Err), "gone.pcap") {
		t.Fatalf("events %+v: want one error naming the missing sources", *events)
	}
	if scans := scanSources(t, d.Agent()); len(scans) != 0 {
		t.Fatalf("scans %v: want none", scans)
	}
}

func TestDaemonStopDuringAScanCommitsItAsInterrupted(t *testing.T) {
	dir := t.TempDir()
	writeCapture(t, filepath.Join(dir, "plant.pcap"), time.Now())
	cfgPath, cfg := daemonZone(t, dir, "capture:\n  files: [plant.pcap]\nschedule:\n  interval: 1h\n")
	d, events := newTestDaemon(t, dir, cfgPath, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// SIGTERM arrives once the scheduled scan is recorded as running.
	d.Agent().afterBegin = cancel
	if err := d.Run(ctx, nil); err != nil {
		t.Fatalf("run: %v", err)
	}
	scans, err := d.Agent().Scans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) != 1 || scans[0].Status != otaudit.ScanIncomplete || !strings.HasPrefix(scans[0].Error, "interrupted") {
		t.Fatalf("scans %+v: want one scan committed as interrupted", scans)
	}
	if len(*events) != 1 || !errors.Is((*events)[0].Err, context.Canceled) {
		t.Fatalf("events %+v", *events)
	}
	rep, err := d.Agent().CheckStore(context.Background())
	if err != nil || !rep.OK() {
		t.Fatalf("store after the stop: %v %v", rep.Problems, err)
	}
}

// TestProbeProgressKeepsSweepers: the progress wrapper leaves a sweeper
// unwrapped (the scheduler recognises it by its type and never calls its
// Probe) and counts device probes only.
func TestProbeProgressKeepsSweepers(t *testing.T) {
	var reports []ScanProgress
	a := &Agent{Progress: func(p ScanProgress) { reports = append(reports, p) }}
	probers := a.activeProbers(proberDeps{config: configs.Default()})
	if _, ok := probers[0].(active.Sweeper); !ok {
		t.Fatalf("the registry starts with %T, want the ARP sweeper (arp_sweep is on by default)", probers[0])
	}
	wrapped, _ := a.withProbeProgress(probers, 3)
	sweepers := 0
	for _, p := range wrapped {
		if _, ok := p.(active.Sweeper); ok {
			sweepers++
		}
	}
	if sweepers != 1 {
		t.Errorf("%d sweepers after wrapping, want 1", sweepers)
	}
	if want := int64(3 * (len(probers) - 1)); len(reports) == 0 || reports[0].Total != want {
		t.Errorf("progress reports %+v, want a total of %d device probes", reports, want)
	}
}

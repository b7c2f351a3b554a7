package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/api"
	"github.com/otaudit/otaudit/agent/demo"
)

const agentTestToken = "otaudit-test-token-0123456789abcdef"

// lockedBuffer is a log sink the agent's goroutines write to while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func writeTokenFile(t *testing.T, dir string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "api-token")
	if err := os.WriteFile(p, []byte(agentTestToken+"\n"), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// agentZone writes the demo zone reading plant.pcap every second.
func agentZone(t *testing.T, dir string) string {
	t.Helper()
	writeDemoCapture(t, dir)
	p := filepath.Join(dir, "zone.yaml")
	cfg := append(append([]byte{}, demo.ZoneYAML...), "\ncapture:\n  files: [plant.pcap]\nschedule:\n  interval: 1s\n"...)
	if err := os.WriteFile(p, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type apiClient struct {
	t    *testing.T
	base string
}

func (c apiClient) get(path, token string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// completeScans polls the API until n scans are complete or the deadline
// passes (a generous bound for a shared machine; no duration is asserted).
func (c apiClient) waitForCompleteScans(n int, done <-chan error) []otaudit.Scan {
	c.t.Helper()
	deadline := time.After(2 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var scans []otaudit.Scan
		if code, body := c.get("/api/v1/scans", agentTestToken); code == http.StatusOK {
			if err := json.Unmarshal([]byte(body), &scans); err != nil {
				c.t.Fatalf("scans: %v: %s", err, body)
			}
			complete := 0
			for _, s := range scans {
				if s.Status == otaudit.ScanComplete {
					complete++
				}
			}
			if complete >= n {
				return scans
			}
		}
		select {
		case err := <-done:
			c.t.Fatalf("agent stopped before %d scans completed: %v", n, err)
		case <-deadline:
			c.t.Fatalf("%d complete scans not recorded in time", n)
		case <-tick.C:
		}
	}
}

func TestAgentRunScansServesAndStopsOnSIGTERM(t *testing.T) {
	dir := t.TempDir()
	zone := agentZone(t, dir)
	db := filepath.Join(dir, "otaudit.db")
	logs := &lockedBuffer{}
	addrs := make(chan net.Addr, 1)
	o := &agentRunOptions{
		g:  &globalOptions{DB: db, Config: zone, LogLevel: "info", LockTimeout: 10 * time.Second},
		io: streams{Out: io.Discard, Err: logs},
		// Port 0: whatever is free on the loopback interface.
		Listen: "127.0.0.1:0", TokenFile: writeTokenFile(t, dir, 0o600), StopTimeout: time.Minute,
		ready: func(a net.Addr) { addrs <- a },
	}
	// The agent stops on a real SIGTERM, as main's context does.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, o) }()
	var c apiClient
	select {
	case a := <-addrs:
		c = apiClient{t: t, base: "http://" + a.String()}
	case err := <-done:
		t.Fatalf("agent did not start: %v\n%s", err, logs)
	}

	c.waitForCompleteScans(2, done)

	// Every request needs the token.
	if code, body := c.get("/api/v1/findings", ""); code != http.StatusUnauthorized || strings.Contains(body, "cell-1") {
		t.Fatalf("findings without a token: %d %s", code, body)
	}
	if code, _ := c.get("/metrics", "wrong-token-wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("metrics with a wrong token: %d", code)
	}
	code, body := c.get("/api/v1/findings?severity=critical&status=open", agentTestToken)
	var critical []otaudit.Finding
	if err := json.Unmarshal([]byte(body), &critical); code != http.StatusOK || err != nil || len(critical) == 0 {
		t.Fatalf("critical findings: %d %v %s", code, err, body)
	}
	for _, f := range critical {
		if f.Severity != otaudit.SeverityCritical || f.Status != otaudit.StatusOpen || f.Zone != "cell-1" {
			t.Fatalf("filter let through %s (%s, %s, %s)", f.ID, f.Severity, f.Status, f.Zone)
		}
	}
	if code, body := c.get("/api/v1/findings/"+critical[0].ID, agentTestToken); code != http.StatusOK || !strings.Contains(body, critical[0].CheckID) {
		t.Fatalf("finding %s: %d %s", critical[0].ID, code, body)
	}
	if code, body := c.get("/api/v1/scores", agentTestToken); code != http.StatusOK || !strings.Contains(body, `"zone":"cell-1"`) {
		t.Fatalf("scores: %d %s", code, body)
	}
	if code, body := c.get("/api/v1/report", agentTestToken); code != http.StatusOK || !strings.Contains(body, "cell-1") {
		t.Fatalf("report: %d %.300s", code, body)
	}
	code, metrics := c.get("/metrics", agentTestToken)
	for _, want := range []string{`otaudit_objective_score{objective="AC",zone="cell-1"} `, `otaudit_scans_total{mode="passive",status="complete"} `,
		`otaudit_findings{severity="critical",status="open",zone="cell-1"} `, `otaudit_capture_packets_total `, `otaudit_outbox_pending 0`} {
		if code != http.StatusOK || !strings.Contains(metrics, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}

	// The CLI's read commands work while the agent runs.
	var out, errw bytes.Buffer
	if code := run(context.Background(), []string{"findings", "--db", db, "--json"}, streams{Out: &out, Err: &errw}); code != exitOK {
		t.Fatalf("otaudit findings while the agent runs: exit %d: %s", code, errw.String())
	}
	var listed []otaudit.Finding
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil || len(listed) < len(critical) {
		t.Fatalf("otaudit findings while the agent runs: %v, %d findings", err, len(listed))
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent stopped with %v\n%s", err, logs)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("agent did not stop after SIGTERM")
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(c.base, "http://")); err == nil {
		t.Error("API still listening after the agent stopped")
	}

	out.Reset()
	errw.Reset()
	if code := run(context.Background(), []string{"db", "check", "--db", db}, streams{Out: &out, Err: &errw}); code != exitOK {
		t.Fatalf("db check after stop: exit %d\n%s%s", code, out.String(), errw.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"scans", "--db", db, "--json"}, streams{Out: &out, Err: &errw}); code != exitOK {
		t.Fatalf("scans: exit %d %s", code, errw.String())
	}
	var scans []otaudit.Scan
	if err := json.Unmarshal(out.Bytes(), &scans); err != nil || len(scans) < 2 {
		t.Fatalf("scans after stop: %v %s", err, out.String())
	}
	for i, s := range scans {
		// The first two were seen complete; one running at SIGTERM may
		// only have been committed as interrupted.
		switch {
		case i < 2 && s.Status != otaudit.ScanComplete:
			t.Errorf("scan %d: %s, want complete", s.ID, s.Status)
		case s.Status == otaudit.ScanIncomplete && !strings.HasPrefix(s.Error, "interrupted"):
			t.Errorf("scan %d incomplete but not interrupted: %s", s.ID, s.Error)
		case s.Status != otaudit.ScanComplete && s.Status != otaudit.ScanIncomplete:
			t.Errorf("scan %d left %s", s.ID, s.Status)
		}
	}
	if !strings.Contains(logs.String(), "agent stopped") {
		t.Errorf("no stop in the log:\n%s", logs)
	}
}

func TestAgentRunKeepsConfigurationWhenReloadFails(t *testing.T) {
	dir := t.TempDir()
	zone := agentZone(t, dir)
	logs := &lockedBuffer{}
	addrs := make(chan net.Addr, 1)
	reload := make(chan struct{})
	o := &agentRunOptions{
		g:      &globalOptions{DB: filepath.Join(dir, "otaudit.db"), Config: zone, LogLevel: "info", LockTimeout: 10 * time.Second},
		io:     streams{Out: io.Discard, Err: logs},
		Listen: "127.0.0.1:0", TokenFile: writeTokenFile(t, dir, 0o600), StopTimeout: time.Minute,
		reload: reload, ready: func(a net.Addr) { addrs <- a },
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runAgent(ctx, o) }()
	c := apiClient{t: t, base: "http://" + (<-addrs).String()}
	c.waitForCompleteScans(1, done)

	if err := os.WriteFile(zone, []byte("version: 1\nzone: {name: cell-1, cidrs: [not-a-cidr]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	reload <- struct{}{}
	// Still scanning with the configuration in force.
	scans := c.waitForCompleteScans(3, done)
	if !strings.Contains(logs.String(), "configuration reload rejected") {
		t.Fatalf("rejected reload not logged:\n%s", logs)
	}
	if scans[len(scans)-1].Zone != "cell-1" {
		t.Fatalf("latest scan %+v", scans[len(scans)-1])
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAgentRunRefusesUnsafeSetups(t *testing.T) {
	dir := t.TempDir()
	zone := agentZone(t, dir)
	base := func() *agentRunOptions {
		return &agentRunOptions{
			g:      &globalOptions{DB: filepath.Join(dir, "otaudit.db"), Config: zone, LogLevel: "warn", LockTimeout: time.Second},
			io:     streams{Out: io.Discard, Err: io.Discard},
			Listen: "127.0.0.1:0", TokenFile: writeTokenFile(t, dir, 0o600), StopTimeout: time.Minute,
		}
	}
	o := base()
	o.Listen = "0.0.0.0:0"
	if err := runAgent(context.Background(), o); !errors.Is(err, api.ErrInsecureListen) {
		t.Errorf("all interfaces without TLS: %v", err)
	}
	o = base()
	o.TokenFile = writeTokenFile(t, t.TempDir(), 0o644)
	if err := runAgent(context.Background(), o); !errors.Is(err, api.ErrTokenFile) {
		t.Errorf("world-readable token: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "otaudit.db")); err == nil {
		t.Error("a refused start created the store")
	}
	// Through the command line: the token file is required (usage, exit 2).
	code, _, stderr := runCLI(t, "agent", "run", "--config", zone, "--db", filepath.Join(dir, "otaudit.db"))
	if code != exitUsage || !strings.Contains(stderr, "--token-file") {
		t.Errorf("agent run without --token-file: exit %d %s", code, stderr)
	}
}

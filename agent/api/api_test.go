package api

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/store"
)

const testToken = "0123456789abcdef0123456789abcdef"

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

// fakeSource answers from fixed data and records the last findings filter.
type fakeSource struct {
	findings   []otaudit.Finding
	scores     []otaudit.ZoneScore
	scans      []otaudit.Scan
	baseline   *otaudit.Baseline
	outbox     int
	err        error // returned by every read when set
	lastFilter store.FindingFilter
}

func (f *fakeSource) Assets(context.Context) ([]otaudit.Asset, error) {
	return []otaudit.Asset{{Key: "ip:10.10.2.10", IP: netip.MustParseAddr("10.10.2.10"), Vendor: "Schneider Electric"}}, f.err
}

func (f *fakeSource) Findings(_ context.Context, fl store.FindingFilter) ([]otaudit.Finding, error) {
	f.lastFilter = fl
	return f.findings, f.err
}

func (f *fakeSource) Finding(_ context.Context, id string) (otaudit.Finding, []otaudit.FindingEvent, error) {
	for _, x := range f.findings {
		if x.ID == id {
			return x, []otaudit.FindingEvent{{ScanID: 1}}, nil
		}
	}
	return otaudit.Finding{}, nil, fmt.Errorf("finding %s: %w", id, store.ErrNotFound)
}

func (f *fakeSource) Scores(context.Context) ([]otaudit.ZoneScore, error) { return f.scores, f.err }
func (f *fakeSource) Scans(context.Context) ([]otaudit.Scan, error)       { return f.scans, f.err }

func (f *fakeSource) Baseline(context.Context) (*otaudit.Baseline, error) {
	if f.baseline == nil {
		return nil, fmt.Errorf("zone cell-1: %w", agent.ErrNoBaseline)
	}
	return f.baseline, nil
}

func (f *fakeSource) WriteReport(_ context.Context, w io.Writer) error {
	if f.err != nil {
		return f.err
	}
	_, err := io.WriteString(w, "<!doctype html><title>cell-1</title>")
	return err
}

func (f *fakeSource) OutboxPending(context.Context) (int, error) { return f.outbox, f.err }

func newFake() *fakeSource {
	return &fakeSource{
		findings: []otaudit.Finding{
			{ID: "f1", CheckID: "AC-CLEARTEXT-LOGIN-TELNET", Zone: "cell-1", Severity: otaudit.SeverityCritical, Status: otaudit.StatusOpen},
			{ID: "f2", CheckID: "AM-UNKNOWN-DEVICE", Zone: "cell-1", Severity: otaudit.SeverityMedium, Status: otaudit.StatusAcceptedRisk},
		},
		scores: []otaudit.ZoneScore{{Zone: "cell-1", ScanID: 2,
			Objectives: []otaudit.ObjectiveScore{{Objective: otaudit.ObjectiveAC, Score: 35}, {Objective: otaudit.ObjectiveRA, Score: -1}},
			FRs:        []otaudit.FRLevel{{FR: otaudit.FR1, Target: 2, Lower: 0, Upper: 1}}}},
		scans:  []otaudit.Scan{{ID: 1, Zone: "cell-1"}, {ID: 2, Zone: "other"}, {ID: 3, Zone: "cell-1"}},
		outbox: 4,
	}
}

func newTestHandler(src Source) http.Handler {
	return NewHandler(Config{Source: src, Token: testToken, Metrics: NewMetrics(src, nil), Now: func() time.Time { return t0 }})
}

func get(t *testing.T, h http.Handler, target, token string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestEveryRouteNeedsTheToken(t *testing.T) {
	h := newTestHandler(newFake())
	for _, path := range []string{"/api/v1/assets", "/api/v1/findings", "/api/v1/findings/f1", "/api/v1/scores",
		"/api/v1/scans", "/api/v1/baseline", "/api/v1/report", "/metrics", "/no/such/route"} {
		for _, auth := range []string{"", "Bearer wrong-token-wrong-token", "Basic " + testToken, "Bearer " + testToken + "x", testToken} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("%s with %q: %d, want 401", path, auth, rec.Code)
			}
			if !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("%s: 401 without a Bearer challenge", path)
			}
			if strings.Contains(rec.Body.String(), "cell-1") {
				t.Errorf("%s: unauthenticated response leaks data: %s", path, rec.Body)
			}
		}
		rec := get(t, h, path, testToken)
		if path == "/no/such/route" {
			if rec.Code != http.StatusNotFound {
				t.Errorf("%s with the token: %d, want 404", path, rec.Code)
			}
			continue
		}
		if rec.Code != http.StatusOK && path != "/api/v1/baseline" {
			t.Errorf("%s with the token: %d %s", path, rec.Code, rec.Body)
		}
	}
	// The scheme is case-insensitive (RFC 7235).
	req := httptest.NewRequest(http.MethodGet, "/api/v1/assets", nil)
	req.Header.Set("Authorization", "bearer "+testToken)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("lower-case scheme: %d", rec.Code)
	}
}

func TestAPIIsReadOnly(t *testing.T) {
	h := newTestHandler(newFake())
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		req := httptest.NewRequest(method, "/api/v1/findings/f1", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: %d, want 405", method, rec.Code)
		}
	}
}

func TestFindingsQueryFiltersLikeTheCLI(t *testing.T) {
	src := newFake()
	h := newTestHandler(src)
	rec := get(t, h, "/api/v1/findings?zone=cell-1&objective=ac&severity=High&status=open&check=AC-X&asset=10.10.2.10&since=7d", testToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	want := store.FindingFilter{Zone: "cell-1", Objective: otaudit.ObjectiveAC, MinSeverity: otaudit.SeverityHigh,
		Status: otaudit.StatusOpen, CheckID: "AC-X", AssetKey: "ip:10.10.2.10", Since: t0.Add(-7 * 24 * time.Hour)}
	if src.lastFilter != want {
		t.Fatalf("filter %+v, want %+v", src.lastFilter, want)
	}
	var got []otaudit.Finding
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || len(got) != 2 {
		t.Fatalf("body %s: %v", rec.Body, err)
	}
	for _, bad := range []string{"objective=XY", "severity=severe", "status=closed", "since=yesterday", "colour=red", "zone=a&zone=b"} {
		if rec := get(t, h, "/api/v1/findings?"+bad, testToken); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s: %d %s, want 400 with an error", bad, rec.Code, rec.Body)
		}
	}
	if rec := get(t, h, "/api/v1/assets?zone=x", testToken); rec.Code != http.StatusBadRequest {
		t.Errorf("query on assets: %d, want 400", rec.Code)
	}
}

func TestFindingScansBaselineAndReport(t *testing.T) {
	src := newFake()
	h := newTestHandler(src)
	rec := get(t, h, "/api/v1/findings/f1", testToken)
	var detail struct {
		Finding otaudit.Finding        `json:"finding"`
		History []otaudit.FindingEvent `json:"history"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &detail); err != nil || detail.Finding.ID != "f1" || len(detail.History) != 1 {
		t.Fatalf("finding f1: %d %s", rec.Code, rec.Body)
	}
	if rec := get(t, h, "/api/v1/findings/nope", testToken); rec.Code != http.StatusNotFound {
		t.Fatalf("unknown finding: %d, want 404", rec.Code)
	}
	rec = get(t, h, "/api/v1/scans?zone=cell-1&limit=1", testToken)
	var scans []otaudit.Scan
	if err := json.Unmarshal(rec.Body.Bytes(), &scans); err != nil || len(scans) != 1 || scans[0].ID != 3 {
		t.Fatalf("latest scan of cell-1: %s", rec.Body)
	}
	if rec := get(t, h, "/api/v1/scans?limit=0", testToken); rec.Code != http.StatusBadRequest {
		t.Fatalf("limit=0: %d, want 400", rec.Code)
	}
	if rec := get(t, h, "/api/v1/baseline", testToken); rec.Code != http.StatusNotFound {
		t.Fatalf("no baseline: %d, want 404", rec.Code)
	}
	src.baseline = &otaudit.Baseline{Zone: "cell-1", ScanID: 3}
	if rec := get(t, h, "/api/v1/baseline", testToken); rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"scan_id":3`) {
		t.Fatalf("baseline: %d %s", rec.Code, rec.Body)
	}
	rec = get(t, h, "/api/v1/report", testToken)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(rec.Body.String(), "<title>cell-1</title>") || !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("report: %d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if rec := get(t, h, "/api/v1/assets", testToken); rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatal("responses may be cached")
	}
}

func TestStoreErrorsMapToStatuses(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{fmt.Errorf("open x: %w", store.ErrLocked), http.StatusServiceUnavailable},
		{fmt.Errorf("%w at x", agent.ErrNoDatabase), http.StatusServiceUnavailable},
		{errors.New("disk on fire"), http.StatusInternalServerError},
	} {
		src := newFake()
		src.err = tc.err
		h := newTestHandler(src)
		for _, path := range []string{"/api/v1/assets", "/api/v1/report"} {
			rec := get(t, h, path, testToken)
			if rec.Code != tc.want {
				t.Errorf("%s with %v: %d, want %d", path, tc.err, rec.Code, tc.want)
			}
			if tc.want == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") == "" {
				t.Errorf("%s: 503 without Retry-After", path)
			}
		}
	}
}

func TestMetricsExposeScoresFindingsAndRuns(t *testing.T) {
	src := newFake()
	m := NewMetrics(src, nil)
	h := NewHandler(Config{Source: src, Token: testToken, Metrics: m})
	m.ObserveRun(agent.RunEvent{Mode: "passive", Collector: "pcap", Duration: 3 * time.Second, OutboxPending: -1,
		Result: &agent.ScanResult{Scan: otaudit.Scan{Status: otaudit.ScanComplete, Finished: t0,
			Stats: otaudit.ScanStats{Packets: 1200, DecodeErrors: 3}}}})
	m.ObserveRun(agent.RunEvent{Mode: "active", Collector: "active", Skipped: "outside the maintenance windows", OutboxPending: -1})
	m.ObserveRun(agent.RunEvent{Mode: "passive", Collector: "pcap", Err: errors.New("store busy"), OutboxPending: -1})

	rec := get(t, h, "/metrics", testToken)
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`otaudit_objective_score{objective="AC",zone="cell-1"} 35`,
		`otaudit_security_level{fr="FR1",level="target",zone="cell-1"} 2`,
		`otaudit_security_level{fr="FR1",level="upper",zone="cell-1"} 1`,
		`otaudit_findings{severity="critical",status="open",zone="cell-1"} 1`,
		`otaudit_findings{severity="medium",status="accepted",zone="cell-1"} 1`,
		`otaudit_findings{severity="high",status="open",zone="cell-1"} 0`,
		`otaudit_scans_total{mode="passive",status="complete"} 1`,
		`otaudit_scans_total{mode="active",status="skipped"} 1`,
		`otaudit_scans_total{mode="passive",status="error"} 1`,
		`otaudit_scan_duration_seconds_count{collector="pcap"} 1`,
		`otaudit_scan_duration_seconds_sum{collector="pcap"} 3`,
		`otaudit_capture_packets_total 1200`,
		`otaudit_decode_errors_total 3`,
		`otaudit_outbox_pending 4`,
		`otaudit_last_complete_scan_timestamp_seconds{mode="passive"} ` + strconv.FormatFloat(float64(t0.Unix()), 'g', -1, 64),
		`otaudit_metrics_store_read_errors_total 0`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, `objective="RA"`) {
		t.Error("an objective that was not assessed has a score")
	}

	// A failed store read serves the previous values and says so.
	src.err = fmt.Errorf("open: %w", store.ErrLocked)
	body = get(t, h, "/metrics", testToken).Body.String()
	for _, want := range []string{`otaudit_objective_score{objective="AC",zone="cell-1"} 35`, `otaudit_metrics_store_read_errors_total 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("after a failed read, /metrics lacks %q", want)
		}
	}
}

func TestLoadTokenNeedsPrivateFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, perm os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), perm); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, perm); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}
	if tok, err := LoadToken(write("ok", testToken+"\n", 0o600)); err != nil || tok != testToken {
		t.Fatalf("0600 token: %q %v", tok, err)
	}
	if _, err := LoadToken(write("ro", testToken, 0o400)); err != nil {
		t.Fatalf("0400 token: %v", err)
	}
	for name, tc := range map[string]struct {
		content string
		perm    os.FileMode
	}{
		"group-readable": {testToken, 0o640},
		"world-readable": {testToken, 0o604},
		"short":          {"secret", 0o600},
		"spaces":         {"0123456789 abcdef0123456789", 0o600},
		"empty":          {"\n", 0o600},
	} {
		_, err := LoadToken(write(name, tc.content, tc.perm))
		if !errors.Is(err, ErrTokenFile) {
			t.Errorf("%s: %v, want ErrTokenFile", name, err)
		}
		if err != nil && strings.Contains(err.Error(), testToken) {
			t.Errorf("%s: the error shows the token", name)
		}
	}
	if _, err := LoadToken(dir); !errors.Is(err, ErrTokenFile) {
		t.Errorf("directory: %v", err)
	}
	if _, err := LoadToken(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}

func TestListenRefusesClearTextBeyondLoopback(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9723", "[::1]:9723", "localhost:0", "127.1.2.3:80"} {
		if err := (ListenConfig{Addr: addr}).Check(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{":9723", "0.0.0.0:9723", "[::]:9723", "10.0.0.5:9723", "agent.plant.local:9723"} {
		if err := (ListenConfig{Addr: addr}).Check(); !errors.Is(err, ErrInsecureListen) {
			t.Errorf("%s without TLS: %v, want ErrInsecureListen", addr, err)
		}
		if err := (ListenConfig{Addr: addr, TLSCert: "c.pem", TLSKey: "k.pem"}).Check(); err != nil {
			t.Errorf("%s with TLS: %v", addr, err)
		}
	}
	if err := (ListenConfig{Addr: "127.0.0.1:1", TLSCert: "c.pem"}).Check(); err == nil {
		t.Error("a certificate without its key accepted")
	}
	if err := (ListenConfig{Addr: "9723"}).Check(); err == nil {
		t.Error("an address without a port separator accepted")
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "otaudit test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestServeOverTLS(t *testing.T) {
	ctx := context.Background()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ln, err := Listen(ctx, ListenConfig{Addr: "127.0.0.1:0", TLSCert: certFile, TLSKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(newTestHandler(newFake()), nil)
	go srv.Serve(ln)
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+ln.Addr().String()+"/api/v1/scores", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(body), `"zone":"cell-1"`) {
		t.Fatalf("scores over TLS: %d tls=%v %s", resp.StatusCode, resp.TLS != nil, body)
	}
	// Clear text to the TLS port gets no data.
	plain, err := http.Get("http://" + ln.Addr().String() + "/api/v1/scores")
	if err == nil {
		b, _ := io.ReadAll(plain.Body)
		plain.Body.Close()
		if strings.Contains(string(b), "cell-1") {
			t.Fatal("clear-text request answered with data")
		}
	}
}

package agent

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/store"
)

// clock is the delivery tests' time: advancing it makes backed-off items
// due without sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// deliveryFixture is a store holding the demo zone's scan, and the
// directory it lives in.
type deliveryFixture struct {
	dir    string
	db     string
	scanID uint64
	agent  *Agent // only for its Config
	clock  *clock
}

func newDeliveryFixture(t *testing.T) *deliveryFixture {
	t.Helper()
	dir := t.TempDir()
	a := &Agent{DBPath: filepath.Join(dir, "otaudit.db")}
	res, err := a.RunDemo(context.Background(), dir)
	if err != nil {
		t.Fatalf("demo scan: %v", err)
	}
	if len(res.Report.Findings) == 0 {
		t.Fatal("the demo scan produced no findings; the delivery tests need some")
	}
	return &deliveryFixture{dir: dir, db: a.DBPath, scanID: res.Scan.ID, agent: a, clock: &clock{t: t0.Add(24 * time.Hour)}}
}

// delivery returns a fresh agent and delivery on the fixture's store, as a
// restarted process would build them.
func (f *deliveryFixture) delivery(targets []DeliveryTarget, tune func(*DeliveryOptions)) *Delivery {
	a := &Agent{Config: f.agent.Config, DBPath: f.db, Now: f.clock.Now}
	o := DeliveryOptions{
		Targets: targets, InitialBackoff: 30 * time.Second, MaxBackoff: 5 * time.Minute,
		AttemptTimeout: 2 * time.Second, jitter: func() float64 { return 0.5 },
	}
	if tune != nil {
		tune(&o)
	}
	return &Delivery{Agent: a, Options: o}
}

func (f *deliveryFixture) outbox(t *testing.T) []store.OutboxItem {
	t.Helper()
	items, _, err := (&Agent{DBPath: f.db}).Outbox(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func (f *deliveryFixture) zoneFindings(t *testing.T) []otaudit.Finding {
	t.Helper()
	a := &Agent{DBPath: f.db}
	scan, err := a.Scans(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fs, err := a.Findings(context.Background(), store.FindingFilter{Zone: scan[0].Zone})
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// receiver is the central tool's HTTPS endpoint as the tests script it.
// Each request takes the next behaviour of the script (then "ok"):
//
//	close     drop the connection before reading anything (endpoint failing)
//	hang      answer nothing until the client gives up (endpoint too slow)
//	500       refuse with a server error
//	lose-ack  take the file, then drop the connection before answering
//	ok        take the file and answer 200
type receiver struct {
	mu       sync.Mutex
	script   []string
	requests int
	got      []receivedFile
	arrived  chan struct{} // a "hang" request arrived (buffered)
}

type receivedFile struct {
	key, auth, digest, name, format string
	body                            []byte
	clientCN                        string
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	behaviour := "ok"
	if r.requests < len(r.script) {
		behaviour = r.script[r.requests]
	}
	r.requests++
	r.mu.Unlock()

	switch behaviour {
	case "close":
		hangUp(w)
		return
	case "hang":
		if r.arrived != nil {
			r.arrived <- struct{}{}
		}
		// The server only notices the client hanging up once the body
		// has been read; then the request's context ends.
		_, _ = io.Copy(io.Discard, req.Body)
		<-req.Context().Done() // the client gave up
		return
	case "500":
		http.Error(w, "receiver database unavailable", http.StatusInternalServerError)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		hangUp(w)
		return
	}
	f := receivedFile{
		key: req.Header.Get("Idempotency-Key"), auth: req.Header.Get("Authorization"), digest: req.Header.Get("Content-Digest"),
		format: req.Header.Get("X-Otaudit-Format"), body: body,
	}
	if _, params, err := parseDisposition(req.Header.Get("Content-Disposition")); err == nil {
		f.name = params
	}
	if req.TLS != nil && len(req.TLS.PeerCertificates) > 0 {
		f.clientCN = req.TLS.PeerCertificates[0].Subject.CommonName
	}
	r.mu.Lock()
	r.got = append(r.got, f)
	r.mu.Unlock()
	if behaviour == "lose-ack" {
		hangUp(w)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func parseDisposition(v string) (string, string, error) {
	_, name, ok := strings.Cut(v, "filename=")
	if !ok {
		return "", "", errors.New("no filename")
	}
	n, err := strconv.Unquote(name)
	return "attachment", n, err
}

func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		conn.Close()
	}
}

func (r *receiver) files() []receivedFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// startReceiver starts an HTTPS receiver on 127.0.0.1 and writes its CA
// certificate where ca_file can point.
func startReceiver(t *testing.T, h http.Handler, tlsConf *tls.Config) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // handshake failures are expected in some tests
	srv.TLS = tlsConf
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("receiver at %s, want 127.0.0.1", srv.URL)
	}
	ca := filepath.Join(t.TempDir(), "receiver-ca.pem")
	writePEM(t, ca, "CERTIFICATE", srv.Certificate().Raw)
	return srv, ca
}

func writePEM(t *testing.T, path, kind string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeToken(t *testing.T, token string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(p, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeliveryLosesNothingThroughAFlakyReceiver is the outbox's promise:
// through a receiver that drops connections, hangs, answers 500 and loses
// acknowledgements, and with the agent "restarting" (a new agent, the
// store closed and reopened) between attempts, every file arrives, and
// after de-duplication by Idempotency-Key every finding arrives exactly
// once.
func TestDeliveryLosesNothingThroughAFlakyReceiver(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	rcv := &receiver{script: []string{"close", "hang", "500", "lose-ack", "ok", "500", "lose-ack"}}
	srv, ca := startReceiver(t, rcv, nil)
	token := "s3cret-bearer-token"
	url := srv.URL + "/ingest?tenant=plant-7"
	targets := []DeliveryTarget{
		{Format: "json", URL: url, TokenFile: writeToken(t, token), CAFile: ca},
		{Format: "csv", URL: url, TokenFile: writeToken(t, token), CAFile: ca},
	}

	res, err := f.delivery(targets, nil).Queue(ctx, f.scanID)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Queued) != 3 { // otaudit.json, assets.csv, findings.csv
		t.Fatalf("queued %d items, want 3", len(res.Queued))
	}
	wantKeys := map[string]store.OutboxItem{}
	for _, it := range res.Queued {
		wantKeys[it.Key] = it
		if strings.Contains(it.TargetLabel, "tenant") {
			t.Errorf("target label %q shows the URL's query", it.TargetLabel)
		}
	}

	var sawFailure bool
	for round := 0; ; round++ {
		if round == 20 {
			t.Fatalf("outbox still holds %d item(s) after %d rounds", len(f.outbox(t)), round)
		}
		rep, err := f.delivery(targets, nil).Deliver(ctx)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if rep.Failed > 0 {
			sawFailure = true
			items := f.outbox(t)
			for _, it := range items {
				if it.Attempts > 0 && it.LastError == "" {
					t.Errorf("round %d: item %d failed %d time(s) but records no error", round, it.ID, it.Attempts)
				}
				if strings.Contains(it.LastError, token) {
					t.Fatal("the bearer token ended up in the outbox")
				}
			}
		}
		if rep.Pending == 0 {
			break
		}
		f.clock.Advance(10 * time.Minute) // past every backoff
	}
	rcv.mu.Lock()
	consumed := rcv.requests >= len(rcv.script)
	rcv.mu.Unlock()
	if !sawFailure || !consumed {
		t.Fatal("the scripted failures never happened")
	}
	if left := f.outbox(t); len(left) != 0 {
		t.Fatalf("delivered everything, yet the outbox holds %+v", left)
	}
	_, st, err := (&Agent{DBPath: f.db}).Outbox(ctx)
	if err != nil || st.Delivered != 3 {
		t.Fatalf("delivered counter %d, %v", st.Delivered, err)
	}

	// Deliver the same scan again: a receiver de-duplicating by key keeps
	// one copy.
	again, err := f.delivery(targets, nil).Queue(ctx, f.scanID)
	if err != nil || len(again.Queued) != 3 {
		t.Fatalf("re-queue: %d, %v", len(again.Queued), err)
	}
	for _, it := range again.Queued {
		if _, ok := wantKeys[it.Key]; !ok {
			t.Fatalf("re-queued %s under a new key", it.Name)
		}
	}
	if rep, err := f.delivery(targets, nil).Deliver(ctx); err != nil || rep.Delivered != 3 {
		t.Fatalf("re-delivery: %+v %v", rep, err)
	}

	byKey := map[string][]receivedFile{}
	for _, got := range rcv.files() {
		if got.auth != "Bearer "+token {
			t.Errorf("request with Authorization %q", got.auth)
		}
		key, err := strconv.Unquote(got.key)
		if err != nil {
			t.Fatalf("Idempotency-Key %q is not a structured-field string", got.key)
		}
		sum := sha256.Sum256(got.body)
		if got.digest != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
			t.Errorf("%s: Content-Digest %q does not match the body", got.name, got.digest)
		}
		byKey[key] = append(byKey[key], got)
	}
	if len(byKey) != len(wantKeys) {
		t.Fatalf("receiver got %d distinct keys, want %d", len(byKey), len(wantKeys))
	}
	duplicated := false
	deduped := map[string][]byte{}
	for key, copies := range byKey {
		it, ok := wantKeys[key]
		if !ok {
			t.Fatalf("unknown key %s", key)
		}
		if len(copies) > 1 {
			duplicated = true
		}
		if copies[0].name != it.Name {
			t.Errorf("key %s arrived as %q, want %q", key, copies[0].name, it.Name)
		}
		deduped[it.Name] = copies[0].body
	}
	if !duplicated {
		t.Fatal("no file arrived twice: the lost acknowledgement and the re-delivery were not exercised")
	}

	want := map[string]bool{}
	for _, fd := range f.zoneFindings(t) {
		want[fd.ID] = true
	}
	var doc export.Document
	if err := json.Unmarshal(deduped["otaudit.json"], &doc); err != nil {
		t.Fatalf("otaudit.json: %v", err)
	}
	countOnce(t, "otaudit.json", want, func(yield func(string)) {
		for _, fd := range doc.Findings {
			yield(fd.ID)
		}
	})
	rows, err := csv.NewReader(bytes.NewReader(deduped["findings.csv"])).ReadAll()
	if err != nil || len(rows) == 0 || rows[0][0] != "finding_id" {
		t.Fatalf("findings.csv: %v (%d rows)", err, len(rows))
	}
	countOnce(t, "findings.csv", want, func(yield func(string)) {
		for _, row := range rows[1:] {
			yield(row[0])
		}
	})
}

// countOnce checks that ids holds every wanted finding ID exactly once.
func countOnce(t *testing.T, what string, want map[string]bool, ids func(func(string))) {
	t.Helper()
	seen := map[string]int{}
	ids(func(id string) { seen[id]++ })
	for id := range want {
		if seen[id] != 1 {
			t.Errorf("%s: finding %s arrived %d times", what, id, seen[id])
		}
	}
	for id := range seen {
		if !want[id] {
			t.Errorf("%s: unknown finding %s", what, id)
		}
	}
}

func TestDeliveryBacksOffAndHonoursRetryAfter(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	var (
		mu         sync.Mutex
		requests   int
		retryAfter string
	)
	srv, ca := startReceiver(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		requests++
		ra := retryAfter
		mu.Unlock()
		if ra != "" {
			w.Header().Set("Retry-After", ra)
			http.Error(w, "slow down", http.StatusTooManyRequests)
			return
		}
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
	}), nil)
	targets := []DeliveryTarget{{Format: "json", URL: srv.URL, CAFile: ca}}
	if _, err := f.delivery(targets, nil).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	next := func() store.OutboxItem {
		items := f.outbox(t)
		if len(items) != 1 {
			t.Fatalf("outbox holds %d items, want 1", len(items))
		}
		return items[0]
	}
	// Initial 30s, doubling, capped at 5m; the fixed jitter takes 3/4 of it.
	for i, want := range []time.Duration{22500 * time.Millisecond, 45 * time.Second, 90 * time.Second, 180 * time.Second, 225 * time.Second, 225 * time.Second} {
		now := f.clock.Now()
		rep, err := f.delivery(targets, nil).Deliver(ctx)
		if err != nil || rep.Attempted != 1 || rep.Failed != 1 || rep.Pending != 1 {
			t.Fatalf("attempt %d: %+v %v", i+1, rep, err)
		}
		it := next()
		if it.Attempts != i+1 || !strings.Contains(it.LastError, "503") || !strings.Contains(it.LastError, "down for maintenance") {
			t.Fatalf("attempt %d: %+v", i+1, it)
		}
		if got := it.NextAttempt.Sub(now); got != want {
			t.Fatalf("attempt %d: next attempt in %s, want %s", i+1, got, want)
		}
		// Not due yet: Deliver leaves it alone; DeliverNow would not.
		if rep, err := f.delivery(targets, nil).Deliver(ctx); err != nil || rep.Attempted != 0 || rep.Pending != 1 {
			t.Fatalf("attempt %d: Deliver before the item is due: %+v %v", i+1, rep, err)
		}
		f.clock.Advance(want)
	}
	mu.Lock()
	retryAfter, before := "600", requests
	mu.Unlock()
	now := f.clock.Now()
	if rep, err := f.delivery(targets, nil).DeliverNow(ctx); err != nil || rep.Attempted != 1 {
		t.Fatalf("DeliverNow: %+v %v", rep, err)
	}
	// Retry-After (10m) is honoured up to the 5m cap.
	if got := next().NextAttempt.Sub(now); got != 5*time.Minute {
		t.Fatalf("after Retry-After 600: next attempt in %s, want the 5m cap", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != before+1 {
		t.Fatalf("%d requests for one DeliverNow", requests-before)
	}
}

func TestDeliveryStopsTryingADownTargetForTheRound(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	// A port nobody listens on: the endpoint is down.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	targets := []DeliveryTarget{{Format: "csv", URL: "https://" + addr + "/in"}, {Format: "json", Directory: dir}}
	if _, err := f.delivery(targets, nil).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	rep, err := f.delivery(targets, nil).Deliver(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// One attempt at the dead endpoint, its second file waits, and the
	// directory target is not held up by it.
	if rep.Attempted != 2 || rep.Failed != 1 || rep.Delivered != 1 || rep.Pending != 2 || len(rep.Errors) != 1 ||
		!strings.Contains(rep.Errors[0], "connection refused") {
		t.Fatalf("report %+v", rep)
	}
	var attempts []int
	for _, it := range f.outbox(t) {
		attempts = append(attempts, it.Attempts)
	}
	if !slices.Equal(attempts, []int{1, 0}) {
		t.Fatalf("attempts per pending item %v, want [1 0]", attempts)
	}
}

func TestDeliveryVerifiesTheServer(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	rcv := &receiver{}
	srv, _ := startReceiver(t, rcv, nil)
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	caCert, _ := newCA(t)
	writePEM(t, otherCA, "CERTIFICATE", caCert.Raw)
	for _, tc := range []struct {
		name   string
		target DeliveryTarget
		want   string
	}{
		{"system roots do not know the test CA", DeliveryTarget{Format: "json", URL: srv.URL}, "certificate"},
		{"a CA that did not sign it", DeliveryTarget{Format: "json", URL: srv.URL, CAFile: otherCA}, "certificate"},
		{"plain http", DeliveryTarget{Format: "json", URL: strings.Replace(srv.URL, "https:", "http:", 1)}, "only https"},
		{"missing token file", DeliveryTarget{Format: "json", URL: srv.URL, TokenFile: filepath.Join(t.TempDir(), "nope")}, "token_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			targets := []DeliveryTarget{tc.target}
			if _, err := f.delivery(targets, nil).Queue(ctx, f.scanID); err != nil {
				t.Fatal(err)
			}
			rep, err := f.delivery(targets, nil).Deliver(ctx)
			if err != nil || rep.Failed != 1 || rep.Delivered != 0 || !strings.Contains(rep.Errors[0], tc.want) {
				t.Fatalf("report %+v, %v; want one failure mentioning %q", rep, err, tc.want)
			}
			ids := []uint64{}
			for _, it := range f.outbox(t) {
				ids = append(ids, it.ID)
			}
			if _, err := (&Agent{DBPath: f.db}).DropOutbox(ctx, ids); err != nil {
				t.Fatal(err)
			}
		})
	}
	if n := len(rcv.files()); n != 0 {
		t.Fatalf("the receiver got %d file(s) over connections that should not have carried them", n)
	}
}

func TestDeliveryWithClientCertificate(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	caCert, caKey := newCA(t)
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	rcv := &receiver{}
	srv, serverCA := startReceiver(t, rcv, &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool})
	certFile, keyFile := newClientCert(t, caCert, caKey, "otaudit-agent")

	without := []DeliveryTarget{{Format: "json", URL: srv.URL, CAFile: serverCA}}
	if _, err := f.delivery(without, nil).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.delivery(without, nil).Deliver(ctx); err != nil || rep.Failed != 1 {
		t.Fatalf("without a client certificate: %+v %v", rep, err)
	}
	// Same target with the certificate: ID() is the same (format and URL),
	// so the pending item is now delivered.
	with := []DeliveryTarget{{Format: "json", URL: srv.URL, CAFile: serverCA, CertFile: certFile, KeyFile: keyFile}}
	rep, err := f.delivery(with, nil).DeliverNow(ctx)
	if err != nil || rep.Delivered != 1 {
		t.Fatalf("with a client certificate: %+v %v", rep, err)
	}
	got := rcv.files()
	if len(got) != 1 || got[0].clientCN != "otaudit-agent" {
		t.Fatalf("receiver got %+v", got)
	}
}

func newCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newClientCert(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", keyDER)
	return certFile, keyFile
}

func TestDirectoryDropLeavesOnlyCompleteFiles(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	drop := filepath.Join(t.TempDir(), "central-share")
	targets := []DeliveryTarget{{Format: "json", Directory: drop}, {Format: "csv", Directory: drop}}
	res, err := f.delivery(targets, nil).Queue(ctx, f.scanID)
	if err != nil || len(res.Queued) != 3 {
		t.Fatalf("queue: %d, %v", len(res.Queued), err)
	}
	// The share is not mounted yet: nothing is created, everything waits.
	rep, err := f.delivery(targets, nil).Deliver(ctx)
	if err != nil || rep.Failed != 2 || rep.Pending != 3 || !strings.Contains(rep.Errors[0], "directory does not exist") {
		t.Fatalf("missing directory: %+v %v", rep, err)
	}
	if _, err := os.Stat(drop); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("delivery created the drop directory itself")
	}
	if err := os.Mkdir(drop, 0o700); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour)
	if rep, err := f.delivery(targets, nil).Deliver(ctx); err != nil || rep.Delivered != 3 || rep.Pending != 0 {
		t.Fatalf("delivery into the directory: %+v %v", rep, err)
	}
	// Delivering the scan again replaces the same files.
	if _, err := f.delivery(targets, nil).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	if rep, err := f.delivery(targets, nil).Deliver(ctx); err != nil || rep.Delivered != 3 {
		t.Fatalf("re-delivery: %+v %v", rep, err)
	}

	entries, err := os.ReadDir(drop)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Fatalf("drop directory holds %v, want 3 files", names)
	}
	tag := res.Queued[0].ScanTag
	for _, name := range names {
		if strings.HasPrefix(name, ".") || strings.Contains(name, ".tmp-") {
			t.Errorf("temporary file %s left behind", name)
		}
		if !strings.HasPrefix(name, tag+"_") {
			t.Errorf("%s does not start with the scan tag %s", name, tag)
		}
		b, err := os.ReadFile(filepath.Join(drop, name))
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(name) {
		case ".json":
			var doc export.Document
			if err := json.Unmarshal(b, &doc); err != nil || len(doc.Findings) == 0 {
				t.Errorf("%s: %v (%d findings)", name, err, len(doc.Findings))
			}
		case ".csv":
			if rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll(); err != nil || len(rows) < 2 {
				t.Errorf("%s: %v (%d rows)", name, err, len(rows))
			}
		default:
			t.Errorf("unexpected file %s", name)
		}
	}
}

func TestOutboxFullRefusesAndReports(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	targets := []DeliveryTarget{{Format: "json", Directory: t.TempDir()}, {Format: "csv", Directory: t.TempDir()}}
	small := func(o *DeliveryOptions) { o.Limits = store.OutboxLimits{MaxItems: 2} }
	_, err := f.delivery(targets, small).Queue(ctx, f.scanID)
	var full *store.OutboxFullError
	if !errors.Is(err, store.ErrOutboxFull) || !errors.As(err, &full) || full.AddingItems != 3 ||
		!strings.Contains(err.Error(), "cannot add 3 item(s)") || !strings.Contains(err.Error(), "scan "+strconv.FormatUint(f.scanID, 10)) {
		t.Fatalf("queue into a too-small outbox: %v", err)
	}
	if n := len(f.outbox(t)); n != 0 {
		t.Fatalf("a refused queue left %d item(s): it must be all or nothing", n)
	}
	exact := func(o *DeliveryOptions) { o.Limits = store.OutboxLimits{MaxItems: 3} }
	if _, err := f.delivery(targets, exact).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	// Queueing the same scan again holds its files once, so a full outbox
	// does not refuse it.
	res, err := f.delivery(targets, exact).Queue(ctx, f.scanID)
	if err != nil || len(res.Queued) != 0 || len(res.AlreadyQueued) != 3 {
		t.Fatalf("re-queue at the bound: %+v %v", res, err)
	}
}

func TestDeliveryLeavesOtherTargetsItemsAndRespectsLeases(t *testing.T) {
	ctx := context.Background()
	f := newDeliveryFixture(t)
	dir := t.TempDir()
	targets := []DeliveryTarget{{Format: "json", Directory: dir}}
	if _, err := f.delivery(targets, nil).Queue(ctx, f.scanID); err != nil {
		t.Fatal(err)
	}
	// Another configuration (say `otaudit outbox deliver` run without the
	// agent's --config) does not know the target and touches nothing.
	rep, err := f.delivery([]DeliveryTarget{}, nil).DeliverNow(ctx)
	if err != nil || rep.Unconfigured != 1 || rep.Attempted != 0 || rep.Pending != 1 {
		t.Fatalf("unconfigured target: %+v %v", rep, err)
	}
	// A process that died mid-attempt leaves a lease: nobody sends the item
	// until the lease expires, then it goes out.
	item := f.outbox(t)[0]
	if item.Attempts != 0 {
		t.Fatalf("an unconfigured delivery counted an attempt: %+v", item)
	}
	db, err := store.Open(ctx, f.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	if _, _, err := db.ClaimOutboxItem(ctx, item.ID, now, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if rep, err := f.delivery(targets, nil).DeliverNow(ctx); err != nil || rep.Busy != 1 || rep.Delivered != 0 {
		t.Fatalf("leased item: %+v %v", rep, err)
	}
	f.clock.Advance(3 * time.Minute)
	if rep, err := f.delivery(targets, nil).Deliver(ctx); err != nil || rep.Delivered != 1 || rep.Pending != 0 {
		t.Fatalf("after the lease expired: %+v %v", rep, err)
	}
}

func TestDeliveryInterruptedIsRetriedWithoutPenalty(t *testing.T) {
	f := newDeliveryFixture(t)
	rcv := &receiver{script: []string{"hang"}, arrived: make(chan struct{}, 1)}
	srv, ca := startReceiver(t, rcv, nil)
	targets := []DeliveryTarget{{Format: "json", URL: srv.URL, CAFile: ca}}
	if _, err := f.delivery(targets, nil).Queue(context.Background(), f.scanID); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-rcv.arrived
		cancel() // SIGTERM while the request is in flight
	}()
	long := func(o *DeliveryOptions) { o.AttemptTimeout = time.Hour }
	_, err := f.delivery(targets, long).Deliver(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver interrupted: %v", err)
	}
	it := f.outbox(t)[0]
	if !strings.HasPrefix(it.LastError, "interrupted") || !it.NextAttempt.Equal(f.clock.Now()) || !it.LeaseUntil.IsZero() {
		t.Fatalf("interrupted item: %+v", it)
	}
	if rep, err := f.delivery(targets, nil).Deliver(context.Background()); err != nil || rep.Delivered != 1 {
		t.Fatalf("after restart: %+v %v", rep, err)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "120": 2 * time.Minute, "-5": 0, "soon": 0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", in, got, want)
		}
	}
}

func TestTargetLabelHidesQueryAndFileSafe(t *testing.T) {
	tg := DeliveryTarget{Format: "ocsf", URL: "https://central.example:8443/api/ingest?api_key=abc#x"}
	if got := tg.Label(); got != "ocsf → https://central.example:8443/api/ingest?…" {
		t.Errorf("label %q", got)
	}
	if tg.ID() == (DeliveryTarget{Format: "json", URL: tg.URL}).ID() {
		t.Error("two formats to one URL share a target ID")
	}
	for in, want := range map[string]string{"cell-1": "cell-1", "../../etc": "z..-..-etc", "": "z", ".hidden": "z.hidden", "Zone A/B": "Zone-A-B"} {
		if got := fileSafe(in); got != want {
			t.Errorf("fileSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

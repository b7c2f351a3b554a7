package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/otaudit/otaudit/store"
)

// sender delivers outbox items to one target.
type sender interface {
	send(ctx context.Context, it store.OutboxItem, data []byte) error
	close()
}

// deliveryError is a failed attempt. targetDown: the target itself did not
// take anything (unreachable, TLS, timeout, overloaded), so its other items
// wait too. retryAfter is the receiver's Retry-After, if any.
type deliveryError struct {
	err        error
	targetDown bool
	retryAfter time.Duration
}

func (e *deliveryError) Error() string { return e.err.Error() }
func (e *deliveryError) Unwrap() error { return e.err }

func targetDown(format string, args ...any) error {
	return &deliveryError{err: fmt.Errorf(format, args...), targetDown: true}
}

func newSender(t DeliveryTarget, log *slog.Logger) sender {
	if t.URL != "" {
		s, err := newHTTPSSender(t, log)
		if err != nil {
			return failingSender{err: &deliveryError{err: err, targetDown: true}}
		}
		return s
	}
	return &directorySender{target: t}
}

// failingSender stands for a target that cannot even be set up (a missing
// token or CA file): every attempt fails with the same reason, which the
// outbox then shows.
type failingSender struct{ err error }

func (f failingSender) send(context.Context, store.OutboxItem, []byte) error { return f.err }
func (f failingSender) close()                                               {}

// httpsSender POSTs each file to an HTTPS endpoint.
type httpsSender struct {
	target DeliveryTarget
	url    string
	token  string
	client *http.Client
}

// maxErrorBody bounds how much of a refusal's body ends up in the error.
const maxErrorBody = 512

func newHTTPSSender(t DeliveryTarget, log *slog.Logger) (*httpsSender, error) {
	label := t.Label()
	u, err := url.Parse(t.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: invalid url", label)
	}
	// The configuration refuses plain http already; targets given in code
	// get the same rule. Results describe a plant's weak points.
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%s: refusing to deliver over %q: only https URLs are allowed", label, u.Scheme)
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: ca_file: %w", label, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: ca_file %s: no PEM certificate in it", label, t.CAFile)
		}
		tlsConf.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		if t.CertFile == "" || t.KeyFile == "" {
			return nil, fmt.Errorf("%s: a client certificate needs both cert_file and key_file", label)
		}
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: client certificate: %w", label, err)
		}
		tlsConf.Certificates = []tls.Certificate{cert}
	}
	s := &httpsSender{target: t, url: t.URL}
	if t.TokenFile != "" {
		if s.token, err = readToken(t.TokenFile, log); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
	}
	dialer := &net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}
	s.client = &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			TLSClientConfig:       tlsConf,
			TLSHandshakeTimeout:   15 * time.Second,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          2,
			IdleConnTimeout:       30 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		// A redirect could lead to plain http or to another host; the
		// configured URL must be the receiver itself.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s, nil
}

// readToken reads a bearer token from path. The token is never logged.
func readToken(path string, log *slog.Logger) (string, error) {
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token_file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		log.Warn("token file is readable by other users; chmod 600 it", "token_file", path, "mode", info.Mode().Perm().String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token_file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token_file %s is empty", path)
	}
	if strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("token_file %s: the token must be one line", path)
	}
	return tok, nil
}

func (s *httpsSender) close() { s.client.CloseIdleConnections() }

func (s *httpsSender) send(ctx context.Context, it store.OutboxItem, data []byte) error {
	label := it.TargetLabel
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(data))
	if err != nil {
		return targetDown("POST %s: %v", label, err)
	}
	sum := sha256.Sum256(data)
	h := req.Header
	h.Set("Content-Type", it.ContentType)
	// draft-ietf-httpapi-idempotency-key-header: a structured-field string.
	h.Set("Idempotency-Key", strconv.Quote(it.Key))
	h.Set("Content-Digest", "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", it.Name))
	h.Set("User-Agent", "otaudit")
	h.Set("X-Otaudit-Format", it.Format)
	h.Set("X-Otaudit-Zone", it.Zone)
	h.Set("X-Otaudit-Scan", strconv.FormatUint(it.ScanID, 10))
	h.Set("X-Otaudit-Scan-Tag", it.ScanTag)
	if s.token != "" {
		h.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return targetDown("POST %s: %s", label, transportReason(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	reason := fmt.Sprintf("POST %s: HTTP %s", label, resp.Status)
	if b := printable(body); b != "" {
		reason += ": " + b
	}
	de := &deliveryError{err: errors.New(reason)}
	switch {
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusRequestTimeout:
		de.targetDown = true
		de.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		de.err = fmt.Errorf("%s (redirected to %s; configure the final URL, redirects are not followed)", reason, redactURL(resp.Header.Get("Location")))
	}
	return de
}

// transportReason words a failed round trip without repeating the URL
// (url.Error would quote it, query and all).
func transportReason(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "no answer before the attempt timed out"
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return "cancelled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || raw == "" {
		return "(unparsable location)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	return u.String()
}

// printable keeps the start of a response body readable on one line.
func printable(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if !unicode.IsPrint(r) {
			return -1
		}
		return r
	}, string(b))
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

// parseRetryAfter reads delay-seconds or an HTTP date; 0 when absent or
// unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

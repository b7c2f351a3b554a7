// Package api is the resident agent's local, read-only HTTP API: assets,
// findings, scores, scans, the baseline and the HTML report under /api/v1,
// and Prometheus metrics at /metrics (metrics.go). Every request needs the
// bearer token; the listener refuses a non-loopback address without TLS
// (listen.go).
//
// It serves what a Source answers and changes nothing: no handler writes to
// the store, and no method other than GET (and HEAD) is routed. What must
// not live here: scanning, scheduling, storage or scoring logic.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/store"
)

// Source answers the API's reads; *agent.Daemon is one.
type Source interface {
	Assets(ctx context.Context) ([]otaudit.Asset, error)
	Findings(ctx context.Context, f store.FindingFilter) ([]otaudit.Finding, error)
	Finding(ctx context.Context, id string) (otaudit.Finding, []otaudit.FindingEvent, error)
	Scores(ctx context.Context) ([]otaudit.ZoneScore, error)
	Scans(ctx context.Context) ([]otaudit.Scan, error)
	Baseline(ctx context.Context) (*otaudit.Baseline, error)
	WriteReport(ctx context.Context, w io.Writer) error
	// OutboxPending is the number of results waiting for delivery.
	OutboxPending(ctx context.Context) (int, error)
}

// Config is what the handler serves and guards it with.
type Config struct {
	Source Source
	// Token is the bearer token every request must carry (LoadToken).
	Token string
	// Metrics is served at /metrics; nil serves none.
	Metrics *Metrics
	Logger  *slog.Logger
	// Now is the clock "since" durations count back from; nil: time.Now.
	Now func() time.Time
}

// NewHandler returns the API's handler. It panics only on a programming
// error (an empty token), never on a request.
func NewHandler(c Config) http.Handler {
	if c.Token == "" {
		panic("api: NewHandler without a token")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &server{Config: c, tokenSum: sha256.Sum256([]byte(c.Token))}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/assets", s.assets)
	mux.HandleFunc("GET /api/v1/findings", s.findings)
	mux.HandleFunc("GET /api/v1/findings/{id}", s.finding)
	mux.HandleFunc("GET /api/v1/scores", s.scores)
	mux.HandleFunc("GET /api/v1/scans", s.scans)
	mux.HandleFunc("GET /api/v1/baseline", s.baseline)
	mux.HandleFunc("GET /api/v1/report", s.report)
	if c.Metrics != nil {
		mux.Handle("GET /metrics", c.Metrics.Handler())
	}
	return s.guard(mux)
}

type server struct {
	Config
	tokenSum [sha256.Size]byte
}

// guard authenticates every request before routing it, so that even a
// 404 or 405 tells an unauthenticated caller nothing about the routes.
func (s *server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		if !s.authorised(r) {
			h.Set("WWW-Authenticate", `Bearer realm="otaudit"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			s.Logger.Info("api request refused: not authenticated", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		s.Logger.Debug("api request", "method", r.Method, "path", r.URL.Path, "status", rec.status, "duration", time.Since(start))
	})
}

func (s *server) authorised(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	// Comparing digests keeps the comparison constant-time whatever the
	// length of what was sent.
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(sum[:], s.tokenSum[:]) == 1
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *server) assets(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	v, err := s.Source.Assets(r.Context())
	s.respond(w, r, nonNil(v), err)
}

func (s *server) findings(w http.ResponseWriter, r *http.Request) {
	f, err := ParseFindingFilter(r.URL.Query(), s.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	v, err := s.Source.Findings(r.Context(), f)
	s.respond(w, r, nonNil(v), err)
}

// findingDetail is the shape of `otaudit findings show ID --json`.
type findingDetail struct {
	Finding otaudit.Finding        `json:"finding"`
	History []otaudit.FindingEvent `json:"history"`
}

func (s *server) finding(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	f, hist, err := s.Source.Finding(r.Context(), r.PathValue("id"))
	s.respond(w, r, findingDetail{Finding: f, History: nonNil(hist)}, err)
}

func (s *server) scores(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	v, err := s.Source.Scores(r.Context())
	s.respond(w, r, nonNil(v), err)
}

// scans lists scans, oldest first; ?zone= keeps one zone's, ?limit=N the
// latest N.
func (s *server) scans(w http.ResponseWriter, r *http.Request) {
	q, err := singleValues(r.URL.Query(), "zone", "limit")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := 0
	if v, ok := q["limit"]; ok {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 {
			writeError(w, http.StatusBadRequest, "limit: want a positive number of scans")
			return
		}
	}
	all, err := s.Source.Scans(r.Context())
	if err != nil {
		s.respond(w, r, nil, err)
		return
	}
	out := make([]otaudit.Scan, 0, len(all))
	for _, sc := range all {
		if z, ok := q["zone"]; !ok || sc.Zone == z {
			out = append(out, sc)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	s.respond(w, r, out, nil)
}

func (s *server) baseline(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	b, err := s.Source.Baseline(r.Context())
	s.respond(w, r, b, err)
}

func (s *server) report(w http.ResponseWriter, r *http.Request) {
	if !noQuery(w, r) {
		return
	}
	// Rendered in full before anything is sent, so that a failure is an
	// error status rather than half a page.
	var buf bytes.Buffer
	if err := s.Source.WriteReport(r.Context(), &buf); err != nil {
		s.respond(w, r, nil, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// The report is self-contained: inline CSS and SVG, nothing to fetch.
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	_, _ = buf.WriteTo(w)
}

// respond writes v as JSON, or the HTTP status err stands for.
func (s *server) respond(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		status := statusOf(err)
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "2")
		}
		if status == http.StatusInternalServerError {
			s.Logger.Error("api request failed", "path", r.URL.Path, "error", err)
		}
		writeError(w, status, err.Error())
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		s.Logger.Error("api response not encodable", "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, "response could not be encoded")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)+1))
	_, _ = w.Write(append(body, '\n'))
}

// statusOf maps the errors a Source returns to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, agent.ErrNoBaseline):
		return http.StatusNotFound
	case errors.Is(err, store.ErrLocked), errors.Is(err, agent.ErrNoDatabase),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// Busy (a commit holds the file), not yet created, or the caller
		// left: worth trying again.
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// noQuery refuses query parameters on endpoints that take none: a filter
// the endpoint silently ignored would give a wrong answer.
func noQuery(w http.ResponseWriter, r *http.Request) bool {
	if _, err := singleValues(r.URL.Query()); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// nonNil turns a nil slice into an empty one, so JSON says [] not null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

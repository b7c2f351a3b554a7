package api

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/store"
)

// findingParams are the query parameters of GET /api/v1/findings, named as
// the flags of `otaudit findings`.
var findingParams = []string{"zone", "objective", "severity", "status", "check", "asset", "since"}

// ParseFindingFilter reads the filters of `otaudit findings` from a query:
// zone, objective (AC…), severity (this and above), status, check, asset
// (ip:ADDRESS or ADDRESS) and since (RFC 3339, YYYY-MM-DD, or a duration
// back from now such as 72h or 7d). An unknown or repeated parameter is an
// error rather than silently ignored.
func ParseFindingFilter(q url.Values, now time.Time) (store.FindingFilter, error) {
	var f store.FindingFilter
	v, err := singleValues(q, findingParams...)
	if err != nil {
		return f, err
	}
	f.Zone = v["zone"]
	f.CheckID = v["check"]
	if s, ok := v["objective"]; ok {
		obj := otaudit.Objective(strings.ToUpper(s))
		if !obj.Valid() {
			return f, fmt.Errorf("objective %q: want one of AC, AM, SI, DC, IM, RA, SM, LF, RM", s)
		}
		f.Objective = obj
	}
	if s, ok := v["severity"]; ok {
		sev, err := otaudit.ParseSeverity(s)
		if err != nil {
			return f, fmt.Errorf("severity: %w", err)
		}
		f.MinSeverity = sev
	}
	if s, ok := v["status"]; ok {
		st := otaudit.FindingStatus(strings.ToLower(s))
		switch st {
		case otaudit.StatusOpen, otaudit.StatusResolved, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive:
			f.Status = st
		default:
			return f, fmt.Errorf("status %q: want open, resolved, accepted or false_positive", s)
		}
	}
	if s, ok := v["asset"]; ok {
		if !strings.HasPrefix(s, "ip:") {
			s = "ip:" + s
		}
		f.AssetKey = s
	}
	if s, ok := v["since"]; ok {
		t, err := parseSince(s, now)
		if err != nil {
			return f, fmt.Errorf("since: %w", err)
		}
		f.Since = t
	}
	return f, nil
}

// parseSince reads a point in time as `otaudit findings --since` does.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		n, aerr := strconv.Atoi(days)
		if aerr == nil && n <= 1<<20 {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 time (2026-03-02T08:00:00Z), a date (2026-03-02) or a positive duration (72h, 7d)", s)
	}
	return now.UTC().Add(-d), nil
}

// singleValues returns the query's parameters, refusing any not in allowed
// and any given more than once.
func singleValues(q url.Values, allowed ...string) (map[string]string, error) {
	out := make(map[string]string, len(q))
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return nil, fmt.Errorf("unknown query parameter %q: this endpoint takes none", k)
			}
			return nil, fmt.Errorf("unknown query parameter %q (want %s)", k, strings.Join(allowed, ", "))
		}
		if len(q[k]) != 1 {
			return nil, fmt.Errorf("query parameter %q given %d times", k, len(q[k]))
		}
		out[k] = q[k][0]
	}
	return out, nil
}

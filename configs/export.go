package configs

import (
	"net/url"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ExportFormats are the formats the agent's exporters write.
var ExportFormats = []string{"json", "csv", "ocsf", "defectdojo", "cyclonedx"}

func (d *configDecoder) exports(n *yaml.Node, field string) []ExportTarget {
	var out []ExportTarget
	d.sequence(n, field, func(e *yaml.Node, ef string) {
		if t, ok := d.exportTarget(e, ef); ok {
			out = append(out, t)
		}
	})
	return out
}

func (d *configDecoder) exportTarget(n *yaml.Node, field string) (ExportTarget, bool) {
	before := len(d.problems)
	entry := d.resolve(n, field)
	var t ExportTarget
	seen := d.mapping(entry, field, map[string]fieldHandler{
		"format": func(n *yaml.Node, f string) {
			format := strings.ToLower(d.str(n, f))
			if format != "" && !slices.Contains(ExportFormats, format) {
				d.problemAt(d.resolve(n, f), f, "unknown format %q (want one of %s)", format, strings.Join(ExportFormats, ", "))
				return
			}
			t.Format = format
		},
		"directory":  func(n *yaml.Node, f string) { t.Directory = d.path(n, f) },
		"url":        func(n *yaml.Node, f string) { t.URL = d.exportURL(n, f) },
		"token_file": func(n *yaml.Node, f string) { t.TokenFile = d.path(n, f) },
		"ca_file":    func(n *yaml.Node, f string) { t.CAFile = d.path(n, f) },
		"cert_file":  func(n *yaml.Node, f string) { t.CertFile = d.path(n, f) },
		"key_file":   func(n *yaml.Node, f string) { t.KeyFile = d.path(n, f) },
	})
	if seen == nil {
		return t, false
	}
	if t.Format == "" && !hasProblemAt(d.problems[before:], joinField(field, "format")) {
		d.problemAt(keyOr(seen["format"], entry), joinField(field, "format"), "required (one of %s)", strings.Join(ExportFormats, ", "))
	}
	dir, u := seen["directory"] != nil, seen["url"] != nil
	switch {
	case dir && u:
		d.problemAt(seen["url"], field, "set either directory or url, not both")
	case !dir && !u:
		d.problemAt(entry, field, "needs a directory or a url")
	}
	// A token or CA file means nothing for a local directory; saying so
	// catches a target whose url was meant but left out.
	if dir && !u {
		for _, k := range []string{"token_file", "ca_file", "cert_file", "key_file"} {
			if seen[k] != nil {
				d.problemAt(seen[k], joinField(field, k), "only applies to a url target")
			}
		}
	}
	if (seen["cert_file"] == nil) != (seen["key_file"] == nil) {
		d.problemAt(entry, field, "cert_file and key_file go together (a client certificate needs its key)")
	}
	return t, len(d.problems) == before
}

// exportURL checks an export endpoint: results describe a plant's weak
// points, so they only travel over TLS, and credentials belong in
// token_file, never in the URL (which ends up in logs). Problems here quote
// only the scheme, as a URL may carry a token in its query.
func (d *configDecoder) exportURL(n *yaml.Node, field string) string {
	raw := d.str(n, field)
	if raw == "" {
		return ""
	}
	at := d.resolve(n, field)
	u, err := url.Parse(raw)
	if err != nil {
		d.problemAt(at, field, "invalid url")
		return ""
	}
	if u.User != nil {
		d.problemAt(at, field, "url must not carry credentials: put the token in token_file")
		return ""
	}
	if u.Scheme != "https" {
		d.problemAt(at, field, "url must use https, got scheme %q", u.Scheme)
		return ""
	}
	if u.Host == "" {
		d.problemAt(at, field, "url has no host")
		return ""
	}
	return raw
}

package export

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
)

// File is one rendered export file.
type File struct {
	Name        string
	ContentType string
	Data        []byte
}

// Formats lists the formats Render writes, in the order the CLI shows them.
var Formats = []string{"json", "csv", "ocsf", "defectdojo", "cyclonedx"}

// UnknownFormatError is returned for a format Render does not write; the
// CLI turns it into a usage error.
type UnknownFormatError struct{ Format string }

func (e *UnknownFormatError) Error() string {
	return fmt.Sprintf("export: unknown format %q (want one of %s)", e.Format, strings.Join(Formats, ", "))
}

// Render renders doc in format: json → otaudit.json; csv → assets.csv +
// findings.csv; ocsf → otaudit.ocsf.jsonl; defectdojo → defectdojo.json;
// cyclonedx → cyclonedx.json. The same doc always gives the same bytes.
func Render(format string, doc Document) ([]File, error) {
	var (
		files []File
		err   error
	)
	switch format {
	case "json":
		var b bytes.Buffer
		err = WriteJSON(&b, doc)
		files = []File{{Name: "otaudit.json", ContentType: "application/json", Data: b.Bytes()}}
	case "csv":
		files, err = renderCSV(doc)
	case "ocsf":
		var data []byte
		data, err = renderOCSF(doc)
		files = []File{{Name: "otaudit.ocsf.jsonl", ContentType: "application/x-ndjson", Data: data}}
	case "defectdojo":
		var data []byte
		data, err = renderDefectDojo(doc)
		files = []File{{Name: "defectdojo.json", ContentType: "application/json", Data: data}}
	case "cyclonedx":
		var data []byte
		data, err = renderCycloneDX(doc)
		files = []File{{Name: "cyclonedx.json", ContentType: "application/vnd.cyclonedx+json; version=1.6", Data: data}}
	default:
		return nil, &UnknownFormatError{Format: format}
	}
	if err != nil {
		return nil, err
	}
	return files, nil
}

// SingleFile reports whether format renders to exactly one file.
func SingleFile(format string) bool { return format != "csv" }

// sortedAssets and sortedFindings return copies in a stable order, so the
// output does not depend on the order the store happened to return.
func sortedAssets(as []otaudit.Asset) []otaudit.Asset {
	out := slices.Clone(as)
	slices.SortStableFunc(out, func(a, b otaudit.Asset) int { return cmp.Compare(a.Key, b.Key) })
	return out
}

func sortedFindings(fs []otaudit.Finding) []otaudit.Finding {
	out := slices.Clone(fs)
	slices.SortStableFunc(out, func(a, b otaudit.Finding) int {
		return cmp.Or(cmp.Compare(a.Zone, b.Zone), cmp.Compare(a.CheckID, b.CheckID),
			cmp.Compare(a.AssetKey, b.AssetKey), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// isoTime is the ISO-8601 UTC form every text format uses; the zero time
// (never seen, no expiry) is the empty string.
func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// productVersion is the version part of a generator string such as
// "otaudit v0.3.0"; "dev" when the generator names none.
func productVersion(generator string) string {
	if v, ok := strings.CutPrefix(generator, "otaudit "); ok && v != "" {
		return v
	}
	if generator != "" && generator != "otaudit" {
		return generator
	}
	return "dev"
}

// srIDs lists the SR/RE identifiers of refs.
func srIDs(refs []otaudit.SRRef) []string {
	out := make([]string, 0, len(refs))
	for _, r := range refs {
		out = append(out, r.ID)
	}
	return out
}

// service renders a service as protocol/transport/port, e.g. modbus/tcp/502.
func service(s otaudit.Service) string {
	return fmt.Sprintf("%s/%s/%d", s.Protocol, s.Transport, s.Port)
}

func services(ss []otaudit.Service) []string {
	out := make([]string, 0, len(ss))
	for _, s := range ss {
		out = append(out, service(s))
	}
	return out
}

// assetIndex maps asset keys to the document's assets.
func assetIndex(as []otaudit.Asset) map[string]*otaudit.Asset {
	m := make(map[string]*otaudit.Asset, len(as))
	for i := range as {
		m[as[i].Key] = &as[i]
	}
	return m
}

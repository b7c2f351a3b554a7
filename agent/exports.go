package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/store"
)

// Formats lists the export formats this build writes.
var Formats = export.Formats

// ExportQuery selects what an export holds.
type ExportQuery struct {
	// Zone restricts the export to one zone: its scans, scores, findings
	// and the assets inside it. Empty: everything in the store.
	Zone string
	// Since keeps findings and assets last seen, and scans started, at or
	// after it. The latest scores are always included. Zero: no bound.
	Since time.Time
	// Generator names the program in the document ("otaudit v0.3.0").
	Generator string
}

// ExportDocument reads the store into the document every format renders.
func (a *Agent) ExportDocument(ctx context.Context, q ExportQuery) (export.Document, error) {
	return a.exportDocument(ctx, q, store.FindingFilter{})
}

// exportDocument reads the document; filter narrows the findings further
// (its Zone, Since and Now are set from q).
func (a *Agent) exportDocument(ctx context.Context, q ExportQuery, filter store.FindingFilter) (export.Document, error) {
	doc := export.Document{Generator: q.Generator, Generated: a.now(), Zone: q.Zone}
	if !q.Since.IsZero() {
		doc.Since = q.Since.UTC()
	}
	err := a.read(ctx, func(db *store.DB) error {
		scans, err := db.Scans(ctx)
		if err != nil {
			return err
		}
		assets, err := db.Assets(ctx)
		if err != nil {
			return err
		}
		filter.Zone, filter.Since, filter.Now = q.Zone, q.Since, doc.Generated
		if doc.Findings, err = db.Findings(ctx, filter); err != nil {
			return err
		}
		scores, err := db.LatestScores(ctx)
		if err != nil {
			return err
		}
		doc.Scans = slices.DeleteFunc(scans, func(s otaudit.Scan) bool {
			return q.Zone != "" && s.Zone != q.Zone || s.Started.Before(q.Since)
		})
		doc.Assets = slices.DeleteFunc(assets, func(x otaudit.Asset) bool {
			return q.Zone != "" && x.Zone != q.Zone || x.LastSeen.Before(q.Since)
		})
		doc.Scores = slices.DeleteFunc(scores, func(s otaudit.ZoneScore) bool { return q.Zone != "" && s.Zone != q.Zone })
		return nil
	})
	if err != nil {
		return export.Document{}, fmt.Errorf("export: %w", err)
	}
	return doc, nil
}

// ExportFiles renders the store's content in format.
func (a *Agent) ExportFiles(ctx context.Context, format string, q ExportQuery) ([]export.File, error) {
	if !slices.Contains(export.Formats, format) {
		return nil, &export.UnknownFormatError{Format: format}
	}
	doc, err := a.ExportDocument(ctx, q)
	if err != nil {
		return nil, err
	}
	return export.Render(format, doc)
}

// Export writes the store's content in a single-file format to w. The
// filter's Zone and Since select as in ExportQuery; its other fields narrow
// the findings further. csv writes two files: use ExportFiles.
func (a *Agent) Export(ctx context.Context, format string, w io.Writer, f store.FindingFilter, generator string) error {
	if !export.SingleFile(format) {
		return fmt.Errorf("export %s: writes several files; export to a directory", format)
	}
	if !slices.Contains(export.Formats, format) {
		return &export.UnknownFormatError{Format: format}
	}
	doc, err := a.exportDocument(ctx, ExportQuery{Zone: f.Zone, Since: f.Since, Generator: generator}, f)
	if err != nil {
		return err
	}
	files, err := export.Render(format, doc)
	if err != nil {
		return err
	}
	if _, err := w.Write(files[0].Data); err != nil {
		return fmt.Errorf("export %s: %w", format, err)
	}
	return nil
}

// WriteExportFiles writes rendered files to out: a single file to the path
// out, several files (csv) into the directory out, which is created if
// missing. Every file is written atomically. It returns the paths written.
func WriteExportFiles(files []export.File, out string) ([]string, error) {
	if len(files) == 1 {
		if fi, err := os.Stat(out); err == nil && fi.IsDir() {
			out = filepath.Join(out, files[0].Name)
		}
		data := files[0].Data
		err := WriteFileAtomic(out, func(w io.Writer) error { _, err := w.Write(data); return err })
		if err != nil {
			return nil, err
		}
		return []string{out}, nil
	}
	if fi, err := os.Stat(out); err == nil && !fi.IsDir() {
		return nil, fmt.Errorf("export to %s: several files (%d) need a directory, and this is a file", out, len(files))
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("export to %s: %w", out, err)
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return nil, fmt.Errorf("export to %s: %w", out, err)
	}
	var paths []string
	for _, f := range files {
		p := filepath.Join(out, f.Name)
		data := f.Data
		if err := WriteFileAtomic(p, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			return paths, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// WriteFileAtomic writes through a temporary file in the same directory and
// renames it into place, so a reader never sees half a file and a failed
// write (a full disk) leaves the previous file intact.
func WriteFileAtomic(path string, write func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

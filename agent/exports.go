package agent

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/store"
)

// Formats lists the export formats this build writes.
var Formats = []string{"json"}

// Export writes the store's content in format to w.
func (a *Agent) Export(ctx context.Context, format string, w io.Writer, f store.FindingFilter, generator string) error {
	if format != "json" {
		return fmt.Errorf("export: unknown format %q (this build writes: json)", format)
	}
	doc := export.Document{Generator: generator, Generated: a.now()}
	err := a.read(ctx, func(db *store.DB) error {
		var err error
		if doc.Scans, err = db.Scans(ctx); err != nil {
			return err
		}
		if doc.Assets, err = db.Assets(ctx); err != nil {
			return err
		}
		if doc.Findings, err = db.Findings(ctx, f); err != nil {
			return err
		}
		doc.Scores, err = db.LatestScores(ctx)
		return err
	})
	if err != nil {
		return err
	}
	return export.WriteJSON(w, doc)
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

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/otaudit/otaudit/store"
)

// directorySender drops each file into a directory (a share the central
// tool collects from). A file appears under its final name only when it is
// complete: it is written under a hidden temporary name (".NAME.tmp-…",
// which a collector's "*.json" pattern does not match), synced, and
// renamed. Its name starts with the scan's tag, so the files of one scan
// sort together and a re-delivery replaces the same file.
type directorySender struct{ target DeliveryTarget }

func (s *directorySender) close() {}

// dropName is the file name an item gets in a directory drop.
func dropName(it store.OutboxItem) string {
	if it.ScanTag == "" {
		return fileSafe(it.Name)
	}
	return it.ScanTag + "_" + fileSafe(it.Name)
}

func (s *directorySender) send(ctx context.Context, it store.OutboxItem, data []byte) error {
	dir := s.target.Directory
	if err := ctx.Err(); err != nil {
		return targetDown("drop into %s: %v", dir, err)
	}
	// The directory is not created: a share that is not mounted must not
	// silently turn into a local directory nobody collects from.
	info, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return targetDown("drop into %s: the directory does not exist (share not mounted?)", dir)
	}
	if err != nil {
		return targetDown("drop into %s: %v", dir, err)
	}
	if !info.IsDir() {
		return targetDown("drop into %s: not a directory", dir)
	}
	path := filepath.Join(dir, dropName(it))
	err = WriteFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	if err != nil {
		return targetDown("drop %s: %v", it.Name, err)
	}
	// The rename is only durable once the directory is synced; the item
	// leaves the outbox after this returns.
	if err := syncDir(dir); err != nil {
		return targetDown("drop %s: sync %s: %v", it.Name, dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	return nil
}

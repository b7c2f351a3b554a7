package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit/store"
)

// capturesState remembers, per zone, which files of the configured capture
// directories the daemon has read (path, size and modification time), in
// memory and in the store so that a restart does not read them again. A
// file named directly in capture.files is read on every run: it is either
// a fixed capture to evaluate periodically or one that keeps growing.
type capturesState struct {
	zone   string
	loaded bool
	files  map[string]store.CaptureFile
}

// capturePick is what one run reads and, once that is committed, the new
// record of the directories: files read before that are still there and
// unchanged, plus those read now.
type capturePick struct {
	read []string
	// unavailable are sources that could not be listed this run.
	unavailable []string
	record      []store.CaptureFile
	hasDirs     bool
}

// pick chooses the capture files of this run. A directory contributes the
// files it did not contribute before (a file rewritten under the same name
// counts as new) except those changed within settle, which a capture tool
// is probably still writing; they wait for a later run.
func (s *capturesState) pick(ctx context.Context, a *Agent, zone string, sources []string, settle time.Duration) (capturePick, error) {
	if !s.loaded || s.zone != zone {
		var files []store.CaptureFile
		err := a.read(ctx, func(db *store.DB) error {
			var err error
			files, err = db.ProcessedCaptures(ctx, zone)
			return err
		})
		if err != nil {
			return capturePick{}, fmt.Errorf("capture files already read in zone %s: %w", zone, err)
		}
		s.zone, s.loaded, s.files = zone, true, map[string]store.CaptureFile{}
		for _, f := range files {
			s.files[f.Path] = f
		}
	}
	log := a.logger()
	now := time.Now()
	var p capturePick
	for _, src := range sources {
		fi, err := os.Stat(src)
		if err != nil {
			log.Warn("capture source unavailable; skipped this run", "source", src, "error", unwrapPathError(err))
			p.unavailable = append(p.unavailable, src)
			continue
		}
		if !fi.IsDir() {
			p.read = append(p.read, src)
			continue
		}
		p.hasDirs = true
		entries, err := os.ReadDir(src)
		if err != nil {
			log.Warn("capture directory unreadable; skipped this run", "source", src, "error", unwrapPathError(err))
			p.unavailable = append(p.unavailable, src)
			continue
		}
		for _, e := range entries { // name order: rotated captures are named in time order
			if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed since the listing
			}
			cf := store.CaptureFile{Path: filepath.Join(src, e.Name()), Size: info.Size(), ModTime: info.ModTime().UTC()}
			if settle > 0 && now.Sub(cf.ModTime) < settle {
				log.Debug("capture file still changing; left for the next run", "file", cf.Path)
				continue
			}
			if prev, ok := s.files[cf.Path]; ok && prev.Size == cf.Size && prev.ModTime.Equal(cf.ModTime) {
				p.record = append(p.record, cf)
				continue
			}
			p.read = append(p.read, cf.Path)
			p.record = append(p.record, cf)
		}
	}
	return p, nil
}

// commit records the pick's files as read, in memory and in the store. A
// store that cannot be written is logged: the memory still holds, and the
// cost of losing it is one re-read after a restart.
func (s *capturesState) commit(ctx context.Context, a *Agent, zone string, p capturePick) {
	if !p.hasDirs {
		return
	}
	s.files = make(map[string]store.CaptureFile, len(p.record))
	for _, f := range p.record {
		s.files[f.Path] = f
	}
	record := slices.Clone(p.record)
	if err := a.withStore(ctx, func(db *store.DB) error { return db.SetProcessedCaptures(ctx, zone, record) }); err != nil {
		a.logger().Warn("could not record the capture files read; they may be read again after a restart", "zone", zone, "error", err)
	}
}

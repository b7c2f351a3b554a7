// Package agent orchestrates otaudit: a scan collects observations, builds
// the inventory, evaluates the IEC 62443 checks, scores the zone and keeps
// everything in the store. It is the only package that wires collectors,
// checks and the store together; it holds no protocol or storage knowledge
// of its own.
//
// The store file is held only while a phase writes: the scan records its
// start, releases the file while it reads captures, then opens it again to
// commit the results. CLI readers therefore wait at most for one commit
// phase, never for a whole scan.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/configs"
	"github.com/otaudit/otaudit/store"
)

// Agent runs scans against one zone configuration and one store.
type Agent struct {
	Config      *configs.Config
	DBPath      string
	LockTimeout time.Duration
	Logger      *slog.Logger
	// Now is the clock for scan records; tests replace it.
	Now func() time.Time
	// Progress, when set, hears how far a scan has got: bytes of capture
	// read, probes done (agent/daemon_progress.go). The CLI sets it when
	// stderr is a terminal.
	Progress func(ScanProgress)

	// afterBegin runs once the scan is recorded as running; tests use it
	// to interrupt a scan at a known point.
	afterBegin func()
}

func (a *Agent) logger() *slog.Logger {
	if a.Logger == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return a.Logger
}

func (a *Agent) now() time.Time {
	if a.Now == nil {
		return time.Now().UTC()
	}
	return a.Now().UTC()
}

func (a *Agent) config() *configs.Config {
	if a.Config == nil {
		return configs.Default()
	}
	return a.Config
}

// Zone returns the zone model of the agent's configuration.
func (a *Agent) Zone() (otaudit.Zone, error) {
	z, err := a.config().ZoneModel()
	if err != nil {
		return otaudit.Zone{}, fmt.Errorf("zone of %s: %w", a.config().Path, err)
	}
	return z, nil
}

// OpenStore opens the agent's store for a write phase or, with readOnly,
// for a query.
func (a *Agent) OpenStore(ctx context.Context, readOnly bool) (*store.DB, error) {
	db, err := store.Open(ctx, a.DBPath, store.Options{ReadOnly: readOnly, LockTimeout: a.LockTimeout, Logger: a.logger()})
	if err != nil {
		return nil, err
	}
	if !readOnly {
		for _, id := range db.RecoveredScans() {
			a.logger().Warn("scan was interrupted and is marked incomplete", "scan", id, "db", a.DBPath)
		}
	}
	return db, nil
}

// withStore runs fn in one write phase: open, fn, close.
func (a *Agent) withStore(ctx context.Context, fn func(*store.DB) error) error {
	db, err := a.OpenStore(ctx, false)
	if err != nil {
		return err
	}
	err = fn(db)
	if cerr := db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("close %s: %w", a.DBPath, cerr)
	}
	return err
}

// ErrNothingRead means no source of a scan yielded a single packet.
var ErrNothingRead = errors.New("no source could be read")

package agent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/store"
)

// ErrNoDatabase means the store file does not exist yet.
var ErrNoDatabase = errors.New("no otaudit database")

// read runs fn on the store opened read-only for the duration of one query.
func (a *Agent) read(ctx context.Context, fn func(*store.DB) error) error {
	if _, err := os.Stat(a.DBPath); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w at %s: run `otaudit scan` (or `otaudit demo`) first, or pass --db", ErrNoDatabase, a.DBPath)
	}
	db, err := a.OpenStore(ctx, true)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(db)
}

// Assets lists the inventory.
func (a *Agent) Assets(ctx context.Context) (assets []otaudit.Asset, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		assets, err = db.Assets(ctx)
		return err
	})
	return assets, err
}

// Findings lists findings matching f.
func (a *Agent) Findings(ctx context.Context, f store.FindingFilter) (fs []otaudit.Finding, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		fs, err = db.Findings(ctx, f)
		return err
	})
	return fs, err
}

// Finding returns one finding with its history.
func (a *Agent) Finding(ctx context.Context, id string) (f otaudit.Finding, history []otaudit.FindingEvent, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		f, history, err = db.Finding(ctx, id)
		return err
	})
	return f, history, err
}

// Scores returns the zone scores of the latest scored scan.
func (a *Agent) Scores(ctx context.Context) (s []otaudit.ZoneScore, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		s, err = db.LatestScores(ctx)
		return err
	})
	return s, err
}

// Scans lists every scan.
func (a *Agent) Scans(ctx context.Context) (s []otaudit.Scan, err error) {
	err = a.read(ctx, func(db *store.DB) error {
		s, err = db.Scans(ctx)
		return err
	})
	return s, err
}

// CheckStore verifies the store file. It opens it for writing so that an
// interrupted scan is found and marked on the way.
func (a *Agent) CheckStore(ctx context.Context) (rep store.CheckReport, err error) {
	if _, serr := os.Stat(a.DBPath); errors.Is(serr, fs.ErrNotExist) {
		return rep, fmt.Errorf("%w at %s", ErrNoDatabase, a.DBPath)
	}
	err = a.withStore(ctx, func(db *store.DB) error {
		rep, err = db.Check(ctx)
		return err
	})
	return rep, err
}

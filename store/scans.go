package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/otaudit/otaudit"
	bolt "go.etcd.io/bbolt"
)

// BeginScan records s as a new running scan. It assigns s.ID (monotonic,
// never reused), sets Status to running and PID to this process, and fills
// Host and Started when they are empty.
func (db *DB) BeginScan(ctx context.Context, s *otaudit.Scan) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: begin scan: %w", db.path, err)
	}
	s.Status = otaudit.ScanRunning
	s.PID = os.Getpid()
	if s.Host == "" {
		s.Host = hostname()
	}
	if s.Started.IsZero() {
		s.Started = db.now()
	}
	var id uint64
	err := db.update("begin scan", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketScans)
		var err error
		if id, err = b.NextSequence(); err != nil {
			return err
		}
		rec := *s
		rec.ID = id
		return putScan(b, &rec)
	})
	if err != nil {
		return err
	}
	s.ID = id
	return nil
}

// FinishScan stores the final record of a scan begun with BeginScan, with
// the status the caller gives. Finished is set to now when it is zero.
func (db *DB) FinishScan(ctx context.Context, s *otaudit.Scan) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: finish scan %d: %w", db.path, s.ID, err)
	}
	if s.Finished.IsZero() {
		s.Finished = db.now()
	}
	return db.update(fmt.Sprintf("finish scan %d", s.ID), func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketScans)
		if b.Get(u64(s.ID)) == nil {
			return fmt.Errorf("scan %d: %w", s.ID, ErrNotFound)
		}
		return putScan(b, s)
	})
}

func putScan(b *bolt.Bucket, s *otaudit.Scan) error {
	v, err := encode(kindScan, s)
	if err != nil {
		return err
	}
	return b.Put(u64(s.ID), v)
}

// Scans lists every scan in ascending ID order.
func (db *DB) Scans(ctx context.Context) ([]otaudit.Scan, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s: list scans: %w", db.path, err)
	}
	var out []otaudit.Scan
	err := db.view("list scans", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketScans).ForEach(func(k, v []byte) error {
			s, err := decode[otaudit.Scan](v, kindScan)
			if err != nil {
				return fmt.Errorf("scan %d: %w", readU64(k), err)
			}
			out = append(out, s)
			return nil
		})
	})
	return out, err
}

// Scan returns one scan; ErrNotFound (wrapped) when there is none.
func (db *DB) Scan(ctx context.Context, id uint64) (otaudit.Scan, error) {
	var s otaudit.Scan
	if err := ctx.Err(); err != nil {
		return s, fmt.Errorf("%s: scan %d: %w", db.path, id, err)
	}
	err := db.view(fmt.Sprintf("scan %d", id), func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketScans).Get(u64(id))
		if v == nil {
			return ErrNotFound
		}
		var err error
		s, err = decode[otaudit.Scan](v, kindScan)
		return err
	})
	return s, err
}

// requireScan fails with ErrNotFound when scanID is not a recorded scan, so
// that nothing is filed under a scan that does not exist.
func requireScan(tx *bolt.Tx, scanID uint64) error {
	if tx.Bucket(bucketScans).Get(u64(scanID)) == nil {
		return fmt.Errorf("scan %d: %w", scanID, ErrNotFound)
	}
	return nil
}

// recoverInterrupted marks incomplete every running scan whose process is
// gone from this host. Scans from other hosts cannot be checked and are
// left alone; so are scans whose process may still be alive.
func (db *DB) recoverInterrupted() error {
	host := hostname()
	var dead []otaudit.Scan
	err := db.view("find interrupted scans", func(tx *bolt.Tx) error {
		return tx.Bucket(bucketScans).ForEach(func(k, v []byte) error {
			s, err := decode[otaudit.Scan](v, kindScan)
			if err != nil {
				// Check reports undecodable values; recovery must not make
				// a bad record a reason to refuse the whole file.
				db.log.Warn("skipping unreadable scan record during recovery", "scan", readU64(k), "err", err)
				return nil
			}
			if s.Status == otaudit.ScanRunning && s.Host != "" && s.Host == host && processGone(s.PID) {
				dead = append(dead, s)
			}
			return nil
		})
	})
	if err != nil || len(dead) == 0 {
		return err
	}
	err = db.update("mark interrupted scans incomplete", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketScans)
		for i := range dead {
			s := &dead[i]
			s.Status = otaudit.ScanIncomplete
			s.Error = fmt.Sprintf("interrupted: process %d is gone", s.PID)
			if err := putScan(b, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, s := range dead {
		db.recovered = append(db.recovered, s.ID)
		db.log.Warn("scan was interrupted; marked incomplete, its data is kept", "scan", s.ID, "pid", s.PID)
	}
	return nil
}

// processGone reports whether no process with pid exists. EPERM means it
// exists under another user, so only ESRCH counts as gone.
func processGone(pid int) bool {
	if pid <= 0 {
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

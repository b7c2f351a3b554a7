package store

import (
	"errors"
	"fmt"
)

// Sentinel errors. The store always returns them wrapped with the database
// file's path and what was being done, so errors.Is works and the message
// is still one readable line.
var (
	// ErrNotFound: the scan, finding or baseline asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrLocked: another process holds the file longer than LockTimeout.
	ErrLocked = errors.New("database is in use by another otaudit process")
	// ErrNewerSchema: the file (or one value in it) was written by a newer
	// otaudit; this build refuses rather than misreading it.
	ErrNewerSchema = errors.New("written by a newer otaudit")
	// ErrNotDatabase: the file is not an otaudit database.
	ErrNotDatabase = errors.New("not an otaudit database")
	// ErrOlderSchema: a read-only Open found a schema older than this build
	// and cannot upgrade it without writing.
	ErrOlderSchema = errors.New("schema older than this otaudit")
)

// pathError carries a message worded for people plus the sentinel a caller
// decides on, so that "open x: schema version 7 is newer than …" still
// satisfies errors.Is(err, ErrNewerSchema) without the sentinel's own text
// having to appear in the sentence.
type pathError struct {
	msg  string
	errs []error
}

func (e *pathError) Error() string   { return e.msg }
func (e *pathError) Unwrap() []error { return e.errs }

// errorf formats a message like fmt.Errorf (with %w for causes) and makes
// the result also match sentinel.
func errorf(sentinel error, format string, args ...any) error {
	inner := fmt.Errorf(format, args...)
	return &pathError{msg: inner.Error(), errs: []error{sentinel, inner}}
}

// Package store keeps everything otaudit knows between runs in one bbolt
// file: scans, the observations each scan collected, the merged asset
// inventory, findings with their per-scan history, zone scores and drift
// baselines.
//
// It is the only package that knows bucket names and key encodings
// (schema.go lists them all). Callers see otaudit types only. Nothing here
// evaluates checks, scores zones or talks to the network.
//
// # Concurrency
//
// bbolt allows one writing process or many reading processes per file, and
// enforces it with flock on the file. otaudit is built around that:
//
//   - Writers hold the file only for short write phases. The agent opens the
//     store writable, writes one batch or one phase of a scan (scan record,
//     observations, assets, findings, scores), and closes it again, so that a
//     long passive capture never keeps a reader out for its whole duration.
//   - Readers (report, list, export) open read-only, which takes a shared
//     lock. Any number of readers may share the file; a writer waits for
//     them and they wait for a writer.
//   - Nobody waits forever: Open waits at most Options.LockTimeout (2s by
//     default) and then fails with ErrLocked and a plain message ("database
//     is in use by another otaudit process (waited 2s); try again when it
//     finishes") instead of hanging.
//   - Within one process a *DB is safe for concurrent use by several
//     goroutines; bbolt serialises write transactions. Every write API runs
//     in its own transaction (AddObservations in one transaction per batch),
//     so a crash loses at most the batch in flight.
//   - A scan left "running" by a process that no longer exists on this host
//     is marked "incomplete" by the next writable Open (RecoveredScans);
//     whatever it committed before it died is kept.
//
// # Files Open refuses
//
// Open never overwrites something that is not an otaudit database: a
// 0-byte file, a text file, random bytes, a truncated bbolt file or a bbolt
// file written by another program (it has buckets but no otaudit meta
// bucket) all give ErrNotDatabase. A bbolt file that holds no bucket at all
// has no data to lose and is initialised by a writable Open (read-only Open
// reports it as not an otaudit database). A file whose schema is newer than
// this build gives ErrNewerSchema. Migrations only run on a writable Open;
// a read-only Open of an older schema gives ErrOlderSchema ("open it once
// for writing to upgrade") rather than answer queries without the indexes
// they need.
//
// The store is Unix-only: it relies on flock and on signal 0 to tell
// whether the process that started a scan still exists.
package store

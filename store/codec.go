package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
)

// envelope is how every value is stored: {"v":1,"kind":"finding","data":{…}}.
// The version lets a later otaudit change a value's shape and lets this one
// refuse values it would misread.
type envelope[T any] struct {
	V    int    `json:"v"`
	Kind string `json:"kind"`
	Data T      `json:"data"`
}

// encode wraps v in its kind's current envelope.
func encode[T any](kind string, v *T) ([]byte, error) {
	b, err := json.Marshal(envelope[*T]{V: valueVersions[kind], Kind: kind, Data: v})
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", kind, err)
	}
	return b, nil
}

// decode unwraps a value of the given kind. It is one json pass on the
// common path; only when that fails, or the version is wrong, does it look
// at the header alone, so that a newer value is reported as newer rather
// than as whatever type error its new shape caused.
func decode[T any](b []byte, kind string) (T, error) {
	var env envelope[T]
	err := json.Unmarshal(b, &env)
	if err != nil || env.V > valueVersions[kind] || env.V < 1 || env.Kind != kind {
		var head struct {
			V    int    `json:"v"`
			Kind string `json:"kind"`
		}
		var zero T
		if herr := json.Unmarshal(b, &head); herr != nil {
			return zero, fmt.Errorf("decode %s: not a value envelope: %w", kind, herr)
		}
		if head.Kind != kind {
			return zero, fmt.Errorf("decode %s: value holds a %q", kind, head.Kind)
		}
		if head.V > valueVersions[kind] {
			return zero, errorf(ErrNewerSchema, "decode %s: value format v%d is newer than this otaudit understands (v%d); upgrade otaudit",
				kind, head.V, valueVersions[kind])
		}
		if head.V < 1 {
			return zero, fmt.Errorf("decode %s: invalid value format v%d", kind, head.V)
		}
		if err == nil {
			err = errors.New("unreadable value")
		}
		return zero, fmt.Errorf("decode %s v%d: %w", kind, head.V, err)
	}
	return env.Data, nil
}

// u64 is a fixed-width big-endian key, so cursor order is numeric order.
func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

func readU64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// observationKey is scanID | seq.
func observationKey(scanID, seq uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, scanID)
	binary.BigEndian.PutUint64(k[8:], seq)
	return k
}

// scanPrefixedKey is scanID | suffix (scores by zone, scan-asset index).
func scanPrefixedKey(scanID uint64, suffix string) []byte {
	k := make([]byte, 8, 8+len(suffix))
	binary.BigEndian.PutUint64(k, scanID)
	return append(k, suffix...)
}

// historyPrefix is finding ID | 0x00; an event key appends its seq.
func historyPrefix(findingID string) []byte {
	k := make([]byte, 0, len(findingID)+9)
	k = append(k, findingID...)
	return append(k, 0)
}

func historyKey(findingID string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(historyPrefix(findingID), seq)
}

// indexPrefix is len16(value) | value: the length prefix keeps "a" and
// "ab" prefixes from overlapping whatever bytes the value holds.
func indexPrefix(value string) []byte {
	k := make([]byte, 2, 2+len(value)+24)
	binary.BigEndian.PutUint16(k, uint16(len(value)))
	return append(k, value...)
}

func indexKey(value, findingID string) []byte {
	return append(indexPrefix(value), findingID...)
}

// splitIndexKey returns the indexed value and the finding ID.
func splitIndexKey(k []byte) (value, findingID string, ok bool) {
	if len(k) < 2 {
		return "", "", false
	}
	n := int(binary.BigEndian.Uint16(k))
	if len(k) < 2+n+1 {
		return "", "", false
	}
	return string(k[2 : 2+n]), string(k[2+n:]), true
}

// maxIndexedLen bounds zone and status strings to what len16 can carry.
const maxIndexedLen = 1<<16 - 1

// rawValue is a key and value still inside a transaction's memory map.
type rawValue struct{ key, value []byte }

// parallelDecodeMin is the number of values below which decoding on one
// goroutine is cheaper than starting more.
const parallelDecodeMin = 512

// decodeAll decodes values of one kind, in order, spreading the work over
// the available CPUs: JSON decoding is what listing findings spends its
// time on. It must run inside the transaction the values come from.
func decodeAll[T any](ctx context.Context, raw []rawValue, kind string) ([]T, error) {
	out := make([]T, len(raw))
	workers := min(runtime.GOMAXPROCS(0), len(raw)/parallelDecodeMin+1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(raw); i += workers {
				if i%1024 == 0 && ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				v, err := decode[T](raw[i].value, kind)
				if err != nil {
					errs[w] = fmt.Errorf("%s %s: %w", kind, raw[i].key, err)
					return
				}
				out[i] = v
			}
		})
	}
	wg.Wait()
	// Report the first failure only: one line, and the same one a
	// sequential decode would have reported first, more or less.
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

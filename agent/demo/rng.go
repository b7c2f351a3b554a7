package demo

import (
	"hash/fnv"
	"time"
)

// demoSeed fixes every random choice in the capture.
const demoSeed = 0x07a0d17c3e11_0001

// rng is SplitMix64: tiny, fast, and its output is defined by the algorithm
// alone, so the capture cannot change with a Go release the way a standard
// library generator's stream might.
type rng struct{ state uint64 }

// newRNG returns a generator for one named part of the capture. Each part
// has its own stream so that changing one conversation leaves the random
// choices of the others alone.
func newRNG(stream string) *rng {
	h := fnv.New64a()
	h.Write([]byte(stream))
	return &rng{state: demoSeed ^ h.Sum64()}
}

func (r *rng) next() uint64 {
	r.state += 0x9e3779b97f4a7c15
	z := r.state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n); n must be positive.
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// between returns a duration in [lo, hi], whole microseconds, because the
// capture keeps microsecond timestamps.
func (r *rng) between(lo, hi time.Duration) time.Duration {
	lo, hi = lo.Truncate(time.Microsecond), hi.Truncate(time.Microsecond)
	if hi <= lo {
		return lo
	}
	span := int((hi - lo) / time.Microsecond)
	return lo + time.Duration(r.intn(span+1))*time.Microsecond
}

// bytes returns n random bytes (nonces, keys, ciphertext).
func (r *rng) bytes(n int) []byte {
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.next()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

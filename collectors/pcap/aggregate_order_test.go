package pcap

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// TestCompareJoinedMatchesJoinedStrings: the credential and secure-channel
// order compares field lists as if joined with NUL, without joining them;
// it must agree with comparing the joined strings, NULs in fields included.
func TestCompareJoinedMatchesJoinedStrings(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 'a', 'b'}
	word := func() string {
		b := make([]byte, r.IntN(4))
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for n := 0; n < 20000; n++ {
		parts := 2 + r.IntN(2)
		x, y := make([]string, parts), make([]string, parts)
		for i := range x {
			x[i], y[i] = word(), word()
		}
		want := strings.Compare(strings.Join(x, "\x00"), strings.Join(y, "\x00"))
		if got := compareJoined(x, y); got != want {
			t.Fatalf("compareJoined(%q, %q) = %d, want %d", x, y, got, want)
		}
	}
}

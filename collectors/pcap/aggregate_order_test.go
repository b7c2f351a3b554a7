package pcap

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otaudit/otaudit"
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

// TestFlowOrderMatchesCompareFlows: the packed IPv4 order of result agrees
// with compareFlows, across families, equal address pairs and ports.
func TestFlowOrderMatchesCompareFlows(t *testing.T) {
	a := newAnalysis("order.pcap", testJudge, discardLogger(), 1<<20)
	addrs := []string{"10.0.0.1", "10.0.0.2", "9.255.255.255", "200.1.1.1", "::1", "fe80::1", "::ffff:10.0.0.1", "0.0.0.0"}
	r := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 400 {
		cli, srv := netip.MustParseAddr(addrs[r.IntN(len(addrs))]), netip.MustParseAddr(addrs[r.IntN(len(addrs))])
		tr := []l4{l4TCP, l4UDP}[r.IntN(2)]
		port := []uint16{80, 502, 161}[r.IntN(3)]
		proto := []string{"http", "modbus", "snmp"}[r.IntN(3)]
		f, _ := a.flowAgg(cli, srv, tr, port, a.protoID(proto), proto, t0, t0, int64(i+1))
		if f == nil {
			t.Fatal("flow table full")
		}
	}
	var got []*otaudit.Flow
	for _, o := range a.result().Observations {
		if o.Kind == otaudit.KindFlow {
			got = append(got, o.Flow)
		}
	}
	want := make([]*flowAgg, a.flows.len())
	for i := range want {
		want[i] = a.flows.at(int32(i))
	}
	slices.SortFunc(want, compareFlows)
	if len(got) != len(want) || len(got) < 50 {
		t.Fatalf("%d flows in the result, %d made", len(got), len(want))
	}
	for i := range want {
		if got[i] != &want[i].flow {
			t.Fatalf("flow %d: %v→%v %s/%d, want %v→%v %s/%d", i, got[i].Client, got[i].Server, got[i].Protocol, got[i].ServerPort,
				want[i].flow.Client, want[i].flow.Server, want[i].flow.Protocol, want[i].flow.ServerPort)
		}
	}
}

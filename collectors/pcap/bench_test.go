package pcap

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkAnalyzeLargestShared measures throughput on the largest shared
// capture (plant1_mixed_modbus_s7_enip_cip.pcap, 13472 packets); it reports
// packets/s next to the usual ns/op and allocations.
func BenchmarkAnalyzeLargestShared(b *testing.B) {
	dir := sharedPcaps(b)
	path := filepath.Join(dir, "plant1_mixed_modbus_s7_enip_cip.pcap")
	if _, err := os.Stat(path); err != nil {
		b.Skipf("largest shared capture not present: %v", err)
	}
	b.ReportAllocs()
	var packets int64
	for i := 0; i < b.N; i++ {
		r, err := AnalyzeFile(context.Background(), path, Options{Judge: testJudge})
		if err != nil {
			b.Fatal(err)
		}
		packets = r.Stats.Packets
	}
	b.ReportMetric(float64(packets*int64(b.N))/b.Elapsed().Seconds(), "packets/s")
}

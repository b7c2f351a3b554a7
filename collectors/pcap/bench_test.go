package pcap

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/otaudit/otaudit/collectors/pcap/benchgen"
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
	benchAnalyzeFile(b, path)
}

// benchAnalyzeFile analyses path b.N times and reports allocations and
// packets/s.
func benchAnalyzeFile(b *testing.B, path string) {
	b.ReportAllocs()
	b.ResetTimer()
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

// BenchmarkAnalyzeSynthetic measures the full analysis of a benchgen
// capture (the traffic mix of `make bench-pcap`, 300k packets, or the file
// named by OTAUDIT_BENCH_PCAP); it reports packets/s and allocations per
// run, so per-packet allocations show as allocs/op ÷ packets.
func BenchmarkAnalyzeSynthetic(b *testing.B) {
	path := os.Getenv("OTAUDIT_BENCH_PCAP")
	if path == "" {
		path = filepath.Join(b.TempDir(), "synthetic.pcap")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := benchgen.Write(f, benchgen.Config{Packets: 300_000, Seed: 62443, Repeat: 1}); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	benchAnalyzeFile(b, path)
}

package store

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/otaudit/otaudit"
)

// BenchmarkIngestObservations stores 100k observations of a realistic mix
// per op into a fresh scan of one growing file, in the default batches.
func BenchmarkIngestObservations(b *testing.B) {
	const perOp = 100_000
	obs := realisticObservations(perOp, 42)
	db := openTest(b, Options{})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		s := otaudit.Scan{Zone: "bench", Mode: "passive"}
		if err := db.BeginScan(ctx, &s); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := db.AddObservations(ctx, s.ID, obs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(perOp)*float64(b.N)/b.Elapsed().Seconds(), "obs/s")
}

// BenchmarkOpenListFindings measures what `otaudit findings` costs: a
// read-only Open of a store with 10k assets and 10k findings (mixed
// statuses), listing the open ones, and Close.
func BenchmarkOpenListFindings(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "otaudit.db")
	db, err := Open(ctx, path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	s := otaudit.Scan{Zone: "bench"}
	if err := db.BeginScan(ctx, &s); err != nil {
		b.Fatal(err)
	}
	assets := make([]otaudit.Asset, 10_000)
	for i := range assets {
		assets[i] = otaudit.Asset{IP: addr(i), MACs: []string{"00:1d:9c:00:00:01"}, Vendor: "Siemens", Model: "S7-1500",
			Services: []otaudit.Service{{Protocol: "s7comm", Transport: otaudit.TCP, Port: 102}}, Zone: "cell-1",
			FirstSeen: t0, LastSeen: t0, Sources: []string{"pcap:plant.pcap"}}
	}
	if err := db.UpsertAssets(ctx, s.ID, assets); err != nil {
		b.Fatal(err)
	}
	findings := make([]otaudit.Finding, 10_000)
	for i := range findings {
		findings[i] = realisticFinding(i)
	}
	if err := db.RecordFindings(ctx, s.ID, findings); err != nil {
		b.Fatal(err)
	}
	// Mixed statuses: of every 10, 4 stay open, 3 resolved, 2 accepted,
	// 1 false positive.
	statuses := []otaudit.FindingStatus{"", "", "", "", otaudit.StatusResolved, otaudit.StatusResolved, otaudit.StatusResolved,
		otaudit.StatusAcceptedRisk, otaudit.StatusAcceptedRisk, otaudit.StatusFalsePositive}
	for i, f := range findings {
		if st := statuses[i%10]; st != "" {
			if err := db.SetFindingStatus(ctx, f.ID, st, "bench"); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		ro, err := Open(ctx, path, Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		open, err := ro.Findings(ctx, FindingFilter{Status: otaudit.StatusOpen})
		if err != nil {
			b.Fatal(err)
		}
		n = len(open)
		if err := ro.Close(); err != nil {
			b.Fatal(err)
		}
	}
	if n != 4000 {
		b.Fatalf("listed %d open findings, want 4000", n)
	}
	b.ReportMetric(b.Elapsed().Seconds()*1000/float64(b.N), "ms/op")
}

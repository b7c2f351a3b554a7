package export_test

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/otaudit/otaudit/agent"
	"github.com/otaudit/otaudit/agent/export"
	"github.com/otaudit/otaudit/store"
)

func init() {
	export.SetDemoDocument(func(t *testing.T) export.Document {
		t.Helper()
		dir := t.TempDir()
		a := &agent.Agent{DBPath: filepath.Join(dir, "otaudit.db"), LockTimeout: 5 * time.Second}
		ctx := context.Background()
		if _, err := a.RunDemo(ctx, dir); err != nil {
			t.Fatalf("demo scan: %v", err)
		}
		doc, err := a.ExportDocument(ctx, agent.ExportQuery{Generator: "otaudit test"})
		if err != nil {
			t.Fatalf("export document: %v", err)
		}
		return doc
	})
}

func TestAgentExportWritesWhatRenderRenders(t *testing.T) {
	dir := t.TempDir()
	at := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	a := &agent.Agent{DBPath: filepath.Join(dir, "otaudit.db"), LockTimeout: 5 * time.Second, Now: func() time.Time { return at }}
	ctx := context.Background()
	if _, err := a.RunDemo(ctx, dir); err != nil {
		t.Fatalf("demo scan: %v", err)
	}
	doc, err := a.ExportDocument(ctx, agent.ExportQuery{Generator: "otaudit test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "ocsf", "defectdojo", "cyclonedx"} {
		files, err := export.Render(format, doc)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := a.Export(ctx, format, &b, store.FindingFilter{}, "otaudit test"); err != nil {
			t.Fatalf("Export %s: %v", format, err)
		}
		if !bytes.Equal(b.Bytes(), files[0].Data) {
			t.Errorf("Export %s differs from Render of ExportDocument", format)
		}
	}
	if err := a.Export(ctx, "csv", &bytes.Buffer{}, store.FindingFilter{}, "otaudit test"); err == nil {
		t.Error("Export csv to one writer succeeded; csv is two files")
	}
	// A filter beyond zone and time narrows the findings.
	var b bytes.Buffer
	if err := a.Export(ctx, "defectdojo", &b, store.FindingFilter{Status: "no-such-status"}, "otaudit test"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b.Bytes(), []byte(`"findings": []`)) {
		t.Errorf("status filter ignored: %.200s", b.Bytes())
	}
}

package export

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestGoldenFiles(t *testing.T) {
	doc := fixedDocument()
	for _, format := range Formats {
		files, err := Render(format, doc)
		if err != nil {
			t.Fatalf("render %s: %v", format, err)
		}
		for _, f := range files {
			if f.ContentType == "" || len(f.Data) == 0 {
				t.Errorf("%s: %s has no content type or no data", format, f.Name)
			}
			golden(t, f.Name, f.Data)
		}
	}
}

func TestRenderIsDeterministicAndIgnoresInputOrder(t *testing.T) {
	doc := fixedDocument()
	shuffled := fixedDocument()
	slices.Reverse(shuffled.Assets)
	slices.Reverse(shuffled.Findings)
	slices.Reverse(shuffled.Scores[0].Results)
	for _, format := range Formats {
		a, err := Render(format, doc)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Render(format, doc)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if !bytes.Equal(a[i].Data, b[i].Data) {
				t.Errorf("%s: %s differs between two renders of the same document", format, a[i].Name)
			}
		}
		if format == "json" {
			continue // otaudit's own document keeps the store's order
		}
		c, err := Render(format, shuffled)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a {
			if !bytes.Equal(a[i].Data, c[i].Data) {
				t.Errorf("%s: %s depends on the order of the input", format, a[i].Name)
			}
		}
	}
}

func TestRenderFileNames(t *testing.T) {
	want := map[string][]string{
		"json": {"otaudit.json"}, "csv": {"assets.csv", "findings.csv"}, "ocsf": {"otaudit.ocsf.jsonl"},
		"defectdojo": {"defectdojo.json"}, "cyclonedx": {"cyclonedx.json"},
	}
	for _, format := range Formats {
		files, err := Render(format, Document{})
		if err != nil {
			t.Fatalf("render %s of an empty document: %v", format, err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
		}
		if !slices.Equal(names, want[format]) {
			t.Errorf("%s: files %v, want %v", format, names, want[format])
		}
		if SingleFile(format) != (len(files) == 1) {
			t.Errorf("%s: SingleFile=%v but %d files", format, SingleFile(format), len(files))
		}
	}
}

func TestRenderRejectsUnknownFormat(t *testing.T) {
	_, err := Render("xml", fixedDocument())
	var uf *UnknownFormatError
	if !errors.As(err, &uf) || uf.Format != "xml" {
		t.Fatalf("err = %v, want an UnknownFormatError for xml", err)
	}
}

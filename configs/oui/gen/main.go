// Command gen rebuilds the embedded OUI table (oui.tsv) from the IEEE
// registry CSVs that Debian ships in the ieee-data package (public domain).
// It is only needed to refresh the committed table:
//
//	go run ./configs/oui/gen [-dir /usr/share/ieee-data] [-out configs/oui/oui.tsv]
package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// registry is one IEEE CSV and the prefix length its assignments have.
type registry struct {
	file string
	bits int
}

// Order matters only for duplicates: a longer prefix never replaces a
// shorter one, both are kept and Lookup picks the longest match.
var registries = []registry{
	{"oui.csv", 24},   // MA-L
	{"mam.csv", 28},   // MA-M
	{"oui36.csv", 36}, // MA-S
	{"iab.csv", 36},   // IAB (legacy 36-bit blocks)
}

type entry struct {
	prefix uint64 // the assignment's hex digits, right-aligned
	bits   int
	org    string
}

func main() {
	dir := flag.String("dir", "/usr/share/ieee-data", "directory holding the IEEE registry CSVs")
	out := flag.String("out", "oui.tsv", "output file")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "oui gen:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	seen := map[[2]uint64]bool{}
	var entries []entry
	for _, reg := range registries {
		path := filepath.Join(dir, reg.file)
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) && reg.file == "iab.csv" {
				continue
			}
			return err
		}
		es, err := readCSV(f, reg.bits)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, e := range es {
			k := [2]uint64{e.prefix, uint64(e.bits)}
			if seen[k] {
				continue
			}
			seen[k] = true
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool {
		if entries[i].bits != entries[j].bits {
			return entries[i].bits < entries[j].bits
		}
		return entries[i].prefix < entries[j].prefix
	})
	var raw bytes.Buffer
	for _, e := range entries {
		fmt.Fprintf(&raw, "%0*x\t%d\t%s\n", e.bits/4, e.prefix, e.bits, e.org)
	}
	fmt.Printf("%d entries, %d bytes\n", len(entries), raw.Len())
	return os.WriteFile(out, raw.Bytes(), 0o644)
}

func readCSV(r io.Reader, bits int) ([]entry, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header := true
	var out []entry
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if header {
			header = false
			continue
		}
		if len(rec) < 3 {
			continue
		}
		hex := strings.TrimSpace(rec[1])
		if len(hex)*4 != bits {
			return nil, fmt.Errorf("assignment %q is not %d bits", hex, bits)
		}
		p, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("assignment %q: %w", hex, err)
		}
		org := strings.Join(strings.Fields(rec[2]), " ")
		org = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' {
				return ' '
			}
			return r
		}, org)
		if org == "" {
			continue
		}
		out = append(out, entry{prefix: p, bits: bits, org: org})
	}
}

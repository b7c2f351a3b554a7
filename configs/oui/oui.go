// Package oui maps MAC addresses to the organisation the IEEE registered
// their prefix to (MA-L 24-bit, MA-M 28-bit, MA-S/IAB 36-bit blocks).
//
// The table is generated from Debian's ieee-data CSVs by ./gen, committed as
// oui.tsv, embedded, and parsed once on first use. It is embedded as text,
// not gzip: decompressing it took 19 ms of every process that looked up a
// vendor, four times the parse, and the names stay slices of the embedded
// string (no copy). This package holds
// only the registry lookup: no vendor renaming, no guessing from traffic.
package oui

//go:generate go run ./gen -out oui.tsv

import (
	_ "embed"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
)

//go:embed oui.tsv
var tableText string

// block is one registry assignment; org is a slice of the embedded table.
type block struct {
	prefix uint64
	org    string
}

type table struct {
	// by prefix length, each sorted by prefix
	b24, b28, b36 []block
	entries       int
}

var (
	loadOnce sync.Once
	loaded   table
)

func load() *table {
	loadOnce.Do(func() { loaded = parse(tableText) })
	return &loaded
}

func parse(text string) table {
	var t table
	// Counting lines first lets the slices be allocated once.
	n := strings.Count(text, "\n")
	all := make([]block, 0, n)
	var counts [3]int
	for len(text) > 0 {
		nl := strings.IndexByte(text, '\n')
		if nl < 0 {
			nl = len(text)
		}
		line := text[:nl]
		if nl < len(text) {
			text = text[nl+1:]
		} else {
			text = ""
		}
		t1 := strings.IndexByte(line, '\t')
		if t1 < 0 {
			continue
		}
		t2 := strings.IndexByte(line[t1+1:], '\t')
		if t2 < 0 {
			continue
		}
		t2 += t1 + 1
		p, err := strconv.ParseUint(line[:t1], 16, 64)
		if err != nil {
			continue
		}
		idx := -1
		switch line[t1+1 : t2] {
		case "24":
			idx = 0
		case "28":
			idx = 1
		case "36":
			idx = 2
		}
		if idx < 0 {
			continue
		}
		// The generator writes 24-bit blocks first, then 28, then 36, so
		// each length is a contiguous run of all.
		all = append(all, block{prefix: p, org: line[t2+1:]})
		counts[idx]++
	}
	t.b24 = all[:counts[0]]
	t.b28 = all[counts[0] : counts[0]+counts[1]]
	t.b36 = all[counts[0]+counts[1] : counts[0]+counts[1]+counts[2]]
	for _, s := range [][]block{t.b24, t.b28, t.b36} {
		if !sort.SliceIsSorted(s, func(i, j int) bool { return s[i].prefix < s[j].prefix }) {
			sort.Slice(s, func(i, j int) bool { return s[i].prefix < s[j].prefix })
		}
	}
	t.entries = len(all)
	return t
}

func find(s []block, p uint64) string {
	i := sort.Search(len(s), func(i int) bool { return s[i].prefix >= p })
	if i < len(s) && s[i].prefix == p {
		return s[i].org
	}
	return ""
}

// Lookup returns the organisation registered for mac's longest matching
// prefix (36, then 28, then 24 bits), or "" when the address is locally
// administered, shorter than 6 bytes, or not in the registry.
func Lookup(mac net.HardwareAddr) string {
	if len(mac) < 6 || mac[0]&0x02 != 0 {
		return ""
	}
	t := load()
	v := uint64(mac[0])<<40 | uint64(mac[1])<<32 | uint64(mac[2])<<24 |
		uint64(mac[3])<<16 | uint64(mac[4])<<8 | uint64(mac[5])
	if org := find(t.b36, v>>12); org != "" {
		return org
	}
	if org := find(t.b28, v>>20); org != "" {
		return org
	}
	return find(t.b24, v>>24)
}

// LookupString is Lookup for a textual MAC ("00:0e:8c:01:02:03",
// "00-0E-8C-01-02-03", "000e.8c01.0203"); unparsable input gives "".
func LookupString(mac string) string {
	hw, err := net.ParseMAC(mac)
	if err != nil {
		return ""
	}
	return Lookup(hw)
}

// Entries reports how many registry blocks the embedded table holds (0 if
// it failed to load), for diagnostics and tests.
func Entries() int { return load().entries }

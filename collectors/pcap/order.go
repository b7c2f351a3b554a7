package pcap

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// OrderCaptures returns paths in capture time order: by the timestamp of
// each file's first packet, then by name. Rotated captures are not always
// named in time order (a counter that wraps, a host name before the date),
// and a directory listing is not either. Only each file's first record is
// read. Files whose first packet cannot be read (not a capture, empty,
// unreadable) come last, in name order, so the caller still meets them and
// reports why it skipped them.
func OrderCaptures(paths []string) []string {
	type entry struct {
		path  string
		first time.Time
		timed bool
	}
	es := make([]entry, len(paths))
	for i, p := range paths {
		es[i] = entry{path: p}
		es[i].first, es[i].timed = firstPacketTime(p)
	}
	slices.SortStableFunc(es, func(x, y entry) int {
		switch {
		case x.timed && !y.timed:
			return -1
		case !x.timed && y.timed:
			return 1
		case x.timed:
			if c := x.first.Compare(y.first); c != 0 {
				return c
			}
		}
		return strings.Compare(x.path, y.path)
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.path
	}
	return out
}

// firstPacketTime reads the timestamp of the first packet of the capture
// at path.
func firstPacketTime(path string) (time.Time, bool) {
	f, err := os.Open(path)
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return time.Time{}, false
	}
	src, err := openCapture(f, filepath.Base(path))
	if err != nil {
		return time.Time{}, false
	}
	var r record
	if err := src.next(&r); err != nil {
		return time.Time{}, false
	}
	return r.ts, true
}

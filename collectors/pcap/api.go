package pcap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/otaudit/otaudit"
)

// Options configure one analysis.
type Options struct {
	// Judge fingerprints captured secrets; a secret is never kept in clear.
	Judge otaudit.CredentialJudge
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// MaxFlows bounds the connection and flow tables (0 → 1<<20). Entries
	// pushed out to respect it are counted in Stats.Evictions.
	MaxFlows int
}

// Stats describe what was read.
type Stats struct {
	Format   string `json:"format"`    // "pcap" or "pcapng"
	LinkType string `json:"link_type"` // "Ethernet", "NULL", "Linux SLL", …
	Packets  int64  `json:"packets"`
	Bytes    int64  `json:"bytes"` // captured bytes of all packets
	// DecodeErrors counts malformed frames and unparsable protocol data.
	DecodeErrors int64 `json:"decode_errors"`
	// Evictions counts table entries dropped to respect Options.MaxFlows.
	Evictions int64 `json:"evictions"`
	// ClosedEvictions counts closed TCP connections forgotten within two
	// minutes (capture time) of their last packet because the bounded set
	// of recently closed connections (32,768 entries) needed the room; a
	// late segment of one would start a new conversation.
	ClosedEvictions int64 `json:"closed_evictions,omitempty"`
	// Dropped counts frames the kernel dropped because the analysis fell
	// behind (live capture only).
	Dropped int64 `json:"dropped,omitempty"`
	// ARPConflicts counts ARP claims of an address already claimed with
	// another MAC in this capture (a duplicate IP, a spoof or a moved
	// address; both sightings are kept as hosts).
	ARPConflicts int64 `json:"arp_conflicts,omitempty"`
	// FragmentsReassembled counts IPv4 datagrams rebuilt from fragments;
	// FragmentEvictions those given up (table bound or 30 s timeout).
	FragmentsReassembled int64 `json:"fragments_reassembled,omitempty"`
	FragmentEvictions    int64 `json:"fragment_evictions,omitempty"`

	FirstPacket time.Time `json:"first_packet"`
	LastPacket  time.Time `json:"last_packet"`
	// Truncated is set when the file stopped making sense before its end;
	// TruncatedAt is the byte offset of the first record that did not.
	Truncated   bool  `json:"truncated,omitempty"`
	TruncatedAt int64 `json:"truncated_at,omitempty"`
	// Warnings are human one-liners naming the file (and packet or offset).
	Warnings []string `json:"warnings,omitempty"`
}

// Result is everything one capture produced.
type Result struct {
	Source       string                `json:"source"`
	Observations []otaudit.Observation `json:"observations"`
	Stats        Stats                 `json:"stats"`
}

// FormatError says the input is not a capture this package can read (wrong
// magic, empty file, unsupported link type, nothing readable). A caller
// scanning a directory skips such files with a warning; any other error is
// an I/O failure or cancellation.
type FormatError struct {
	File   string // base name
	Reason string
	// Offset is the byte offset the problem was found at (-1 if none).
	Offset int64
}

func (e *FormatError) Error() string { return "pcap " + e.File + ": " + e.Reason }

// IsFormatError reports whether err (or anything it wraps) is a *FormatError.
func IsFormatError(err error) bool {
	var fe *FormatError
	return errors.As(err, &fe)
}

// AnalyzeFile reads the capture at path.
func AnalyzeFile(ctx context.Context, path string, opts Options) (*Result, error) {
	name := filepath.Base(path)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcap %s: open: %w", name, err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, &FormatError{File: name, Reason: "is a directory", Offset: -1}
	}
	return Analyze(ctx, f, name, opts)
}

// Analyze reads a capture from r; name (a base file name) labels the
// observations' Source ("pcap:"+name) and every error and warning.
//
// A capture cut short keeps what was read: Stats.Truncated is set, a
// warning says where, and the error is nil unless no packet at all was
// read. When ctx is cancelled the partial Result is returned with ctx.Err().
func Analyze(ctx context.Context, r io.Reader, name string, opts Options) (*Result, error) {
	name = filepath.Base(name)
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("collector", "pcap", "file", name)
	maxFlows := opts.MaxFlows
	if maxFlows <= 0 {
		maxFlows = 1 << 20
	}
	src, err := openCapture(r, name)
	if err != nil {
		return nil, err
	}
	a := newAnalysis(name, opts.Judge, logger, maxFlows)
	a.stats.Format = src.format()
	if err := a.run(ctx, src); err != nil {
		if IsFormatError(err) {
			return nil, err
		}
		// Cancelled: what was read so far is still a valid (partial) result.
		return a.result(), err
	}
	return a.result(), nil
}

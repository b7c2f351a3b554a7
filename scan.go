package otaudit

import "time"

// ScanStatus is the state of a scan in the store.
type ScanStatus string

const (
	ScanRunning  ScanStatus = "running"
	ScanComplete ScanStatus = "complete"
	// ScanIncomplete: the scan stopped before it finished (interrupted,
	// killed, or a source failed); what it committed is kept.
	ScanIncomplete ScanStatus = "incomplete"
	ScanFailed     ScanStatus = "failed"
)

// Scan is one run of collection and evaluation over a zone.
type Scan struct {
	ID       uint64     `json:"id"`
	Zone     string     `json:"zone"`
	Mode     string     `json:"mode"` // "passive", "active", "demo"
	Started  time.Time  `json:"started"`
	Finished time.Time  `json:"finished,omitempty"`
	Status   ScanStatus `json:"status"`
	Sources  []string   `json:"sources,omitempty"`
	// PID and Host identify the process that ran the scan, so that a scan
	// left "running" by a dead process can be marked incomplete.
	PID      int       `json:"pid,omitempty"`
	Host     string    `json:"host,omitempty"`
	Stats    ScanStats `json:"stats"`
	Warnings []string  `json:"warnings,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// ScanStats counts what a scan processed.
type ScanStats struct {
	Packets      int64 `json:"packets"`
	Bytes        int64 `json:"bytes"`
	DecodeErrors int64 `json:"decode_errors"`
	Observations int64 `json:"observations"`
	Assets       int64 `json:"assets"`
	Findings     int64 `json:"findings"`
}

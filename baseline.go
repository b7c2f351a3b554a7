package otaudit

import (
	"net/netip"
	"time"
)

// Baseline is the approved state of a zone: its assets with identity and
// firmware, the protocols each serves, and the paths that cross the zone
// boundary, carry remote access or write to controllers. Drift is measured
// against it.
type Baseline struct {
	Zone       string    `json:"zone"`
	Created    time.Time `json:"created"`
	ScanID     uint64    `json:"scan_id"`
	ApprovedBy string    `json:"approved_by,omitempty"`
	Note       string    `json:"note,omitempty"`

	Assets []BaselineAsset `json:"assets"`
	// BoundaryFlows cross the zone boundary (client or server outside).
	BoundaryFlows []BaselinePath `json:"boundary_flows,omitempty"`
	// RemotePaths are remote-access sessions (client → server, protocol).
	RemotePaths []BaselinePath `json:"remote_paths,omitempty"`
	// Writers are hosts seen writing to, programming or changing the mode
	// of controllers.
	Writers []BaselinePath `json:"writers,omitempty"`
}

// BaselineAsset is an asset as approved.
type BaselineAsset struct {
	Key      string     `json:"key"`
	IP       netip.Addr `json:"ip"`
	MACs     []string   `json:"macs,omitempty"`
	Vendor   string     `json:"vendor,omitempty"`
	Model    string     `json:"model,omitempty"`
	Firmware string     `json:"firmware,omitempty"`
	Serial   string     `json:"serial,omitempty"`
	Services []Service  `json:"services,omitempty"`
}

// BaselinePath is an approved client → server path for a protocol.
type BaselinePath struct {
	Client   netip.Addr `json:"client"`
	Server   netip.Addr `json:"server"`
	Protocol string     `json:"protocol"`
	Port     uint16     `json:"port,omitempty"`
}

package otaudit

import (
	"net/netip"
	"strings"
	"time"
)

// Zone is an IEC 62443 zone as the agent sees it: what is inside, what it
// must achieve, and what it allows. Zero-valued lists mean "not declared":
// no CIDRs puts everything seen in scope; no allowed protocols restricts
// nothing.
type Zone struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// CIDRs are the zone's address ranges.
	CIDRs []netip.Prefix `json:"cidrs,omitempty"`
	// SLTarget is the target security level per foundational requirement.
	SLTarget SLVector `json:"sl_target"`
	// PurdueLevel is the zone's lowest Purdue level (0–5), -1 if unknown.
	PurdueLevel int  `json:"purdue_level"`
	Safety      bool `json:"safety,omitempty"`
	// EngineeringHosts may write to and program controllers.
	EngineeringHosts []netip.Prefix `json:"engineering_hosts,omitempty"`
	// JumpHosts are the approved remote-access gateways.
	JumpHosts []netip.Prefix `json:"jump_hosts,omitempty"`
	// AllowedProtocols lists the application protocols allowed in the zone.
	AllowedProtocols []string `json:"allowed_protocols,omitempty"`
	// Conduits are the declared data flows to other zones.
	Conduits []Conduit `json:"conduits,omitempty"`
	// Register is the approved asset register; nil means none was given.
	Register []RegisteredAsset `json:"register,omitempty"`
	// MaxRemoteSessionMinutes bounds remote sessions (0 = not set).
	MaxRemoteSessionMinutes int `json:"max_remote_session_minutes,omitempty"`
	// MaintenanceWindows are when remote access, program changes and
	// active credential checks are approved; none declared means the zone
	// has no approved window.
	MaintenanceWindows []MaintenanceWindow `json:"maintenance_windows,omitempty"`
	// Attestations and compensating countermeasures for requirements the
	// network cannot show (backup, emergency power, MFA, …).
	Attestations []Attestation `json:"attestations,omitempty"`
}

// MaintenanceWindow is a weekly window in UTC, e.g. Sat–Sun 02:00–06:00.
// End before Start runs past midnight.
type MaintenanceWindow struct {
	Days  []time.Weekday `json:"days,omitempty"` // empty: every day
	Start time.Duration  `json:"start"`          // since midnight
	End   time.Duration  `json:"end"`
}

// Contains reports whether t falls in the window.
func (w MaintenanceWindow) Contains(t time.Time) bool {
	t = t.UTC()
	day := t.Weekday()
	tod := time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second
	if w.End <= w.Start && tod < w.End {
		// The early-morning part of a window that began the day before.
		day = (day + 6) % 7
	} else if w.End > w.Start && (tod < w.Start || tod >= w.End) || w.End <= w.Start && tod < w.Start {
		return false
	}
	if len(w.Days) == 0 {
		return true
	}
	for _, d := range w.Days {
		if d == day {
			return true
		}
	}
	return false
}

// InMaintenanceWindow reports whether t falls in any of the zone's windows.
func (z *Zone) InMaintenanceWindow(t time.Time) bool {
	for _, w := range z.MaintenanceWindows {
		if w.Contains(t) {
			return true
		}
	}
	return false
}

// Attestation states that a requirement is met (or compensated) on
// evidence the agent cannot observe. It is always shown with the score and
// stops counting when it expires.
type Attestation struct {
	// Requirement is an SR or RE ID, e.g. "SR 7.3" or "SR 1.1 RE2".
	Requirement string `json:"requirement"`
	// Compensating marks a compensating countermeasure rather than an
	// attestation that the requirement itself is met.
	Compensating bool      `json:"compensating,omitempty"`
	Description  string    `json:"description,omitempty"`
	Evidence     string    `json:"evidence"` // document or ticket reference
	Approver     string    `json:"approver"`
	Expires      time.Time `json:"expires"`
}

// Valid reports whether the attestation still counts at t.
func (a Attestation) Valid(t time.Time) bool { return a.Expires.IsZero() || t.Before(a.Expires) }

// Conduit is a declared path between this zone and a peer zone.
type Conduit struct {
	Name      string         `json:"name"`
	PeerZone  string         `json:"peer_zone"`
	PeerCIDRs []netip.Prefix `json:"peer_cidrs"`
	Protocols []string       `json:"protocols"`
	SLTarget  SLVector       `json:"sl_target"`
}

// RegisteredAsset is an entry of the approved asset register.
type RegisteredAsset struct {
	IP       netip.Addr `json:"ip,omitempty"`
	MAC      string     `json:"mac,omitempty"`
	Name     string     `json:"name,omitempty"`
	Vendor   string     `json:"vendor,omitempty"`
	Model    string     `json:"model,omitempty"`
	Firmware string     `json:"firmware,omitempty"`
	Role     string     `json:"role,omitempty"`
}

func anyContains(prefixes []netip.Prefix, a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Bounded reports whether the zone declares its address ranges. An
// unbounded zone (the embedded default) has everything seen in scope and
// therefore no boundary to cross.
func (z *Zone) Bounded() bool { return len(z.CIDRs) > 0 }

// Contains reports whether a is inside the zone.
func (z *Zone) Contains(a netip.Addr) bool {
	if !z.Bounded() {
		return a.IsValid()
	}
	return anyContains(z.CIDRs, a)
}

// IsEngineeringHost reports whether a may write to controllers.
func (z *Zone) IsEngineeringHost(a netip.Addr) bool { return anyContains(z.EngineeringHosts, a) }

// IsJumpHost reports whether a is an approved remote-access gateway.
func (z *Zone) IsJumpHost(a netip.Addr) bool { return anyContains(z.JumpHosts, a) }

// AllowsProtocol reports whether protocol is allowed in the zone.
func (z *Zone) AllowsProtocol(protocol string) bool {
	if len(z.AllowedProtocols) == 0 {
		return true
	}
	for _, p := range z.AllowedProtocols {
		if strings.EqualFold(p, protocol) {
			return true
		}
	}
	return false
}

// ConduitFor returns the declared conduit that allows protocol between the
// zone and peer, if any.
func (z *Zone) ConduitFor(peer netip.Addr, protocol string) (Conduit, bool) {
	for _, c := range z.Conduits {
		if !anyContains(c.PeerCIDRs, peer) {
			continue
		}
		for _, p := range c.Protocols {
			if p == "*" || strings.EqualFold(p, protocol) {
				return c, true
			}
		}
	}
	return Conduit{}, false
}

// InAnyConduit reports whether peer lies in a declared peer zone, that is
// in a known neighbouring zone rather than somewhere unknown.
func (z *Zone) InAnyConduit(peer netip.Addr) bool {
	for _, c := range z.Conduits {
		if anyContains(c.PeerCIDRs, peer) {
			return true
		}
	}
	return false
}

// Lookup finds the register entry for an asset. An entry with an IP
// matches that IP only; an entry with just a MAC (a DHCP device) matches the
// MAC. Matching a MAC against an entry that names an IP would be wrong for
// routed traffic, where every remote address carries the router's MAC.
func (z *Zone) Lookup(ip netip.Addr, macs []string) (RegisteredAsset, bool) {
	ip = ip.Unmap()
	for _, r := range z.Register {
		if r.IP.IsValid() && r.IP == ip {
			return r, true
		}
	}
	for _, r := range z.Register {
		if r.IP.IsValid() || r.MAC == "" {
			continue
		}
		for _, m := range macs {
			if strings.EqualFold(r.MAC, m) {
				return r, true
			}
		}
	}
	return RegisteredAsset{}, false
}

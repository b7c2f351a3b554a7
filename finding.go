package otaudit

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// FindingStatus is where a finding is in its lifecycle.
type FindingStatus string

const (
	StatusOpen          FindingStatus = "open"
	StatusResolved      FindingStatus = "resolved"
	StatusAcceptedRisk  FindingStatus = "accepted"
	StatusFalsePositive FindingStatus = "false_positive"
)

// SRRef names an IEC 62443-3-3 system requirement or requirement
// enhancement and the lowest security level that requires it.
type SRRef struct {
	ID string `json:"id" yaml:"id"` // "SR 1.5", "SR 4.1 RE1"
	SL int    `json:"sl" yaml:"sl"`
}

// Refs traces a check or finding to the standards.
type Refs struct {
	// SR lists 62443-3-3 requirements; only Disproves lowers SL-A.
	SR []SRRef `json:"sr" yaml:"sr"`
	// Disproves is the subset of SR that a failure proves unmet (§4.3 of
	// the reference catalog).
	Disproves []SRRef `json:"disproves,omitempty" yaml:"disproves"`
	// IEC62443_2_1 are 62443-2-1 (2024) requirement IDs or groups.
	IEC62443_2_1 []string `json:"iec62443_2_1,omitempty" yaml:"iec62443_2_1"`
	// IEC62443_4_2 are component requirements (CR/EDR/HDR/NDR).
	IEC62443_4_2 []string `json:"iec62443_4_2,omitempty" yaml:"iec62443_4_2"`
	// ISO27001 are ISO/IEC 27001:2013 Annex A controls.
	ISO27001 []string `json:"iso27001,omitempty" yaml:"iso27001"`
	// ATTACK are MITRE ATT&CK for ICS technique IDs, for context.
	ATTACK []string `json:"attack,omitempty" yaml:"attack"`
}

// Evidence is what a finding rests on: which observation, between whom,
// when, and where in the source to look.
type Evidence struct {
	Source     string    `json:"source"`
	Kind       string    `json:"kind"`
	Detail     string    `json:"detail"`
	Client     string    `json:"client,omitempty"`
	Server     string    `json:"server,omitempty"`
	Count      int64     `json:"count,omitempty"`
	FirstFrame int64     `json:"first_frame,omitempty"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
}

// Finding is a check that failed for an asset (or flow) in a zone.
type Finding struct {
	// ID is stable: the same check, asset and key always give the same ID,
	// so a rescan updates a finding rather than adding another.
	ID           string    `json:"id"`
	CheckID      string    `json:"check_id"`
	Title        string    `json:"title"`
	Objective    Objective `json:"objective"`
	SubObjective string    `json:"sub_objective,omitempty"`
	Severity     Severity  `json:"severity"`
	Refs         Refs      `json:"refs"`
	Zone         string    `json:"zone"`
	AssetKey     string    `json:"asset"`
	// Key distinguishes several findings of one check on one asset, e.g.
	// the offending client or protocol.
	Key         string        `json:"key,omitempty"`
	Summary     string        `json:"summary"`
	Remediation string        `json:"remediation,omitempty"`
	Evidence    []Evidence    `json:"evidence"`
	FirstSeen   time.Time     `json:"first_seen"`
	LastSeen    time.Time     `json:"last_seen"`
	Status      FindingStatus `json:"status"`
	// StatusReason says why a finding was accepted or marked false.
	StatusReason string `json:"status_reason,omitempty"`
	// StatusBy is who accepted the risk or marked the finding false.
	StatusBy string `json:"status_by,omitempty"`
	// StatusUntil is when an accepted risk expires and the finding reopens.
	StatusUntil time.Time `json:"status_until,omitempty"`
}

// FindingID derives the stable identity of a finding.
func FindingID(checkID, assetKey, key string) string {
	h := sha256.New()
	h.Write([]byte(checkID))
	h.Write([]byte{0})
	h.Write([]byte(assetKey))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil)[:10])
}

// FindingEvent is one entry of a finding's per-scan history.
type FindingEvent struct {
	ScanID   uint64        `json:"scan_id"`
	Time     time.Time     `json:"time"`
	Status   FindingStatus `json:"status"`
	Severity Severity      `json:"severity"`
	Note     string        `json:"note,omitempty"`
}

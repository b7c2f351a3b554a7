package export

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otaudit/otaudit"
	"github.com/otaudit/otaudit/checks"
)

// OCSF 1.8 JSON Lines, one event per line:
//
//   - Device Inventory Info (class 5001, category 5 Discovery, activity 2
//     Collect) per asset;
//   - Compliance Finding (class 2003, category 2 Findings) per finding, with
//     the finding's asset as resource and device;
//   - Compliance Finding per zone-level check result that no exported
//     finding stands for: PASS (compliance Pass), NOT_ASSESSED (Warning: the
//     evidence was not collected) and FAIL checks whose findings fall
//     outside the export (--since). NOT_APPLICABLE results say nothing about
//     the zone and are not emitted.
//   - Vulnerability Finding (2002) only when an advisory matches an asset.
//     otaudit has no advisory database yet, so none are emitted.
//
// Every event carries what OCSF 1.8 requires of its class: activity_id,
// category_uid, class_uid, type_uid (= class_uid*100 + activity_id),
// severity_id, time (ms since the epoch), metadata.product.name and
// metadata.version; findings add finding_info.uid and compliance.standards;
// inventory adds device.type_id. Attributes OCSF has no place for go to
// "unmapped" under their otaudit names.

// OCSFVersion is the OCSF schema version the events follow.
const OCSFVersion = "1.8.0"

// OCSF class identifiers used here.
const (
	OCSFClassComplianceFinding    = 2003
	OCSFClassVulnerabilityFinding = 2002
	OCSFClassDeviceInventoryInfo  = 5001
)

type ocsfEvent struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity"`
	Time         int64  `json:"time"`
	StartTime    int64  `json:"start_time,omitempty"`
	EndTime      int64  `json:"end_time,omitempty"`
	Message      string `json:"message,omitempty"`
	// Status and StatusID are the finding's triage state (finding classes).
	Status      string           `json:"status,omitempty"`
	StatusID    int              `json:"status_id,omitempty"`
	Metadata    ocsfMetadata     `json:"metadata"`
	FindingInfo *ocsfFindingInfo `json:"finding_info,omitempty"`
	Compliance  *ocsfCompliance  `json:"compliance,omitempty"`
	Remediation *ocsfRemediation `json:"remediation,omitempty"`
	Resources   []ocsfResource   `json:"resources,omitempty"`
	Device      *ocsfDevice      `json:"device,omitempty"`
	Unmapped    map[string]any   `json:"unmapped,omitempty"`
}

type ocsfMetadata struct {
	Product ocsfProduct `json:"product"`
	Version string      `json:"version"`
}

type ocsfProduct struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
	Version    string `json:"version"`
}

type ocsfFindingInfo struct {
	UID           string        `json:"uid"`
	Title         string        `json:"title"`
	Desc          string        `json:"desc,omitempty"`
	Analytic      *ocsfAnalytic `json:"analytic,omitempty"`
	Types         []string      `json:"types,omitempty"`
	FirstSeenTime int64         `json:"first_seen_time,omitempty"`
	LastSeenTime  int64         `json:"last_seen_time,omitempty"`
}

type ocsfAnalytic struct {
	UID    string `json:"uid"`
	Name   string `json:"name,omitempty"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
}

type ocsfCompliance struct {
	Standards    []string `json:"standards"`
	Requirements []string `json:"requirements,omitempty"`
	Control      string   `json:"control"`
	Status       string   `json:"status"`
	StatusID     int      `json:"status_id"`
	StatusDetail string   `json:"status_detail,omitempty"`
}

type ocsfRemediation struct {
	Desc string `json:"desc"`
}

type ocsfResource struct {
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"`
	Type string `json:"type"`
}

type ocsfDevice struct {
	UID               string                 `json:"uid"`
	Name              string                 `json:"name,omitempty"`
	IP                string                 `json:"ip,omitempty"`
	MAC               string                 `json:"mac,omitempty"`
	Type              string                 `json:"type"`
	TypeID            int                    `json:"type_id"`
	VendorName        string                 `json:"vendor_name,omitempty"`
	Model             string                 `json:"model,omitempty"`
	HWInfo            *ocsfHWInfo            `json:"hw_info,omitempty"`
	OS                *ocsfOS                `json:"os,omitempty"`
	NetworkInterfaces []ocsfNetworkInterface `json:"network_interfaces,omitempty"`
	Zone              string                 `json:"zone,omitempty"`
	FirstSeenTime     int64                  `json:"first_seen_time,omitempty"`
	LastSeenTime      int64                  `json:"last_seen_time,omitempty"`
}

type ocsfHWInfo struct {
	SerialNumber string `json:"serial_number"`
}

// ocsfOS carries the firmware: OCSF has no firmware attribute, and the OS
// object is where consumers look for a version to match advisories on.
type ocsfOS struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	TypeID  int    `json:"type_id"`
	Version string `json:"version"`
}

type ocsfNetworkInterface struct {
	IP     string `json:"ip,omitempty"`
	MAC    string `json:"mac,omitempty"`
	Type   string `json:"type"`
	TypeID int    `json:"type_id"`
}

func renderOCSF(doc Document) ([]byte, error) {
	meta := ocsfMetadata{
		Product: ocsfProduct{Name: "otaudit", VendorName: "otaudit", Version: productVersion(doc.Generator)},
		Version: OCSFVersion,
	}
	assets := sortedAssets(doc.Assets)
	byKey := assetIndex(assets)
	var events []ocsfEvent
	for i := range assets {
		events = append(events, inventoryEvent(meta, &assets[i], doc.Generated))
	}
	findings := sortedFindings(doc.Findings)
	reported := map[string]bool{} // zone + "\x00" + check ID
	for _, f := range findings {
		events = append(events, findingEvent(meta, f, byKey[f.AssetKey], doc.Generated))
		reported[f.Zone+"\x00"+f.CheckID] = true
	}
	events = append(events, checkResultEvents(meta, doc, reported)...)

	var b bytes.Buffer
	for i, e := range events {
		line, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("export ocsf: event %d (class %d): %w", i+1, e.ClassUID, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// ocsfTime is an OCSF timestamp: milliseconds since the epoch. A zero time
// (never recorded) falls back to the export's time, as time is required.
func ocsfTime(t, fallback time.Time) int64 {
	if t.IsZero() {
		t = fallback
	}
	return t.UnixMilli()
}

func msOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// ocsfSeverity maps otaudit's severity to OCSF severity_id and caption:
// info 1 Informational, low 2, medium 3, high 4, critical 5.
func ocsfSeverity(s otaudit.Severity) (int, string) {
	switch s {
	case otaudit.SeverityLow:
		return 2, "Low"
	case otaudit.SeverityMedium:
		return 3, "Medium"
	case otaudit.SeverityHigh:
		return 4, "High"
	case otaudit.SeverityCritical:
		return 5, "Critical"
	}
	return 1, "Informational"
}

// ocsfDeviceType maps the asset's role to device type_id. OCSF has no PLC,
// RTU or HMI type, so those are 99 Other with the role as the type label.
func ocsfDeviceType(role string) (int, string) {
	switch strings.ToLower(role) {
	case "":
		return 0, "Unknown"
	case "firewall":
		return 9, "Firewall"
	case "switch":
		return 10, "Switch"
	case "server":
		return 1, "Server"
	}
	return 99, role
}

func ocsfDeviceOf(a *otaudit.Asset) *ocsfDevice {
	typeID, typeName := ocsfDeviceType(a.Role)
	d := &ocsfDevice{
		UID: a.Key, Name: a.Name, Type: typeName, TypeID: typeID,
		VendorName: a.Vendor, Model: a.Model, Zone: a.Zone,
		FirstSeenTime: msOrZero(a.FirstSeen), LastSeenTime: msOrZero(a.LastSeen),
	}
	if a.IP.IsValid() {
		d.IP = a.IP.String()
	}
	if len(a.MACs) > 0 {
		d.MAC = a.MACs[0]
	}
	if a.Serial != "" {
		d.HWInfo = &ocsfHWInfo{SerialNumber: a.Serial}
	}
	if a.Firmware != "" {
		d.OS = &ocsfOS{Name: "firmware", Type: "Other", TypeID: 99, Version: a.Firmware}
	}
	// One interface per MAC; the asset's IP is on the first. Passive capture
	// cannot tell wired from wireless, hence type Unknown.
	for i, mac := range a.MACs {
		ni := ocsfNetworkInterface{MAC: mac, Type: "Unknown", TypeID: 0}
		if i == 0 {
			ni.IP = d.IP
		}
		d.NetworkInterfaces = append(d.NetworkInterfaces, ni)
	}
	if len(a.MACs) == 0 && d.IP != "" {
		d.NetworkInterfaces = []ocsfNetworkInterface{{IP: d.IP, Type: "Unknown", TypeID: 0}}
	}
	return d
}

func inventoryEvent(meta ocsfMetadata, a *otaudit.Asset, generated time.Time) ocsfEvent {
	const activity = 2 // Collect: found by a collection process
	e := ocsfEvent{
		ActivityID: activity, ActivityName: "Collect",
		CategoryUID: 5, CategoryName: "Discovery",
		ClassUID: OCSFClassDeviceInventoryInfo, ClassName: "Device Inventory Info",
		TypeUID: OCSFClassDeviceInventoryInfo*100 + activity, TypeName: "Device Inventory Info: Collect",
		SeverityID: 1, Severity: "Informational",
		Time:      ocsfTime(a.LastSeen, generated),
		StartTime: msOrZero(a.FirstSeen), EndTime: msOrZero(a.LastSeen),
		Message:  "Device " + assetLabel(a),
		Metadata: meta,
		Device:   ocsfDeviceOf(a),
	}
	u := map[string]any{"registered": a.Registered}
	if a.MACVendor != "" {
		u["mac_vendor"] = a.MACVendor
	}
	if a.Role != "" {
		u["role"] = a.Role
	}
	if a.ProductCode != "" {
		u["product_code"] = a.ProductCode
	}
	if a.Firmware != "" {
		u["firmware"] = a.Firmware
	}
	if len(a.MACs) > 1 {
		u["macs"] = a.MACs
	}
	if len(a.Services) > 0 {
		u["services"] = services(a.Services)
	}
	if len(a.Uses) > 0 {
		u["uses"] = services(a.Uses)
	}
	if len(a.Sources) > 0 {
		u["sources"] = a.Sources
	}
	e.Unmapped = u
	return e
}

// assetLabel names an asset for a human: address, then identity if known.
func assetLabel(a *otaudit.Asset) string {
	label := a.Key
	if a.IP.IsValid() {
		label = a.IP.String()
	}
	var id []string
	for _, s := range []string{a.Name, a.Vendor, a.Model} {
		if s != "" {
			id = append(id, s)
		}
	}
	if len(id) > 0 {
		label += " (" + strings.Join(id, " ") + ")"
	}
	return label
}

// Standard names used in compliance.standards and as prefixes of
// compliance.requirements.
const (
	std62443_3_3 = "IEC 62443-3-3"
	std62443_2_1 = "IEC 62443-2-1"
	std62443_4_2 = "IEC 62443-4-2"
	stdISO27001  = "ISO/IEC 27001:2013"
)

func ocsfComplianceRefs(refs otaudit.Refs) (standards, requirements []string) {
	standards = []string{std62443_3_3}
	for _, r := range refs.SR {
		requirements = append(requirements, std62443_3_3+" "+r.ID)
	}
	for _, group := range []struct {
		std string
		ids []string
	}{{std62443_2_1, refs.IEC62443_2_1}, {std62443_4_2, refs.IEC62443_4_2}, {stdISO27001, refs.ISO27001}} {
		if len(group.ids) == 0 {
			continue
		}
		standards = append(standards, group.std)
		for _, id := range group.ids {
			requirements = append(requirements, group.std+" "+id)
		}
	}
	return standards, requirements
}

// findingStatus maps the lifecycle to the OCSF finding status and whether
// the compliance check currently fails: open 1 New (fail); accepted risk 3
// Suppressed (still fails: accepting a risk does not meet the requirement);
// false positive 3 Suppressed (pass); resolved 4 Resolved (pass).
func findingStatus(s otaudit.FindingStatus) (id int, caption string, failing bool) {
	switch s {
	case otaudit.StatusAcceptedRisk:
		return 3, "Suppressed", true
	case otaudit.StatusFalsePositive:
		return 3, "Suppressed", false
	case otaudit.StatusResolved:
		return 4, "Resolved", false
	}
	return 1, "New", true
}

func findingEvent(meta ocsfMetadata, f otaudit.Finding, a *otaudit.Asset, generated time.Time) ocsfEvent {
	statusID, status, failing := findingStatus(f.Status)
	activity, activityName := 1, "Create"
	if !failing {
		activity, activityName = 3, "Close"
	}
	sevID, sev := ocsfSeverity(f.Severity)
	standards, requirements := ocsfComplianceRefs(f.Refs)
	comp := &ocsfCompliance{Standards: standards, Requirements: requirements, Control: f.CheckID,
		Status: "Fail", StatusID: 3, StatusDetail: f.Summary}
	if !failing {
		comp.Status, comp.StatusID = "Pass", 1
	}
	e := ocsfEvent{
		ActivityID: activity, ActivityName: activityName,
		CategoryUID: 2, CategoryName: "Findings",
		ClassUID: OCSFClassComplianceFinding, ClassName: "Compliance Finding",
		TypeUID: OCSFClassComplianceFinding*100 + activity, TypeName: "Compliance Finding: " + activityName,
		SeverityID: sevID, Severity: sev,
		Time:      ocsfTime(f.LastSeen, generated),
		StartTime: msOrZero(f.FirstSeen), EndTime: msOrZero(f.LastSeen),
		Message: f.Summary, Status: status, StatusID: statusID,
		Metadata: meta,
		FindingInfo: &ocsfFindingInfo{
			UID: f.ID, Title: f.Title, Desc: f.Summary,
			Analytic:      &ocsfAnalytic{UID: f.CheckID, Name: f.Title, Type: "Rule", TypeID: 1},
			Types:         []string{"IEC 62443 " + string(f.Objective)},
			FirstSeenTime: msOrZero(f.FirstSeen), LastSeenTime: msOrZero(f.LastSeen),
		},
		Compliance: comp,
		Resources:  []ocsfResource{{UID: f.AssetKey, Name: f.AssetKey, Type: "asset"}},
	}
	if f.Remediation != "" {
		e.Remediation = &ocsfRemediation{Desc: f.Remediation}
	}
	if a != nil {
		e.Device = ocsfDeviceOf(a)
		e.Resources[0] = ocsfResource{UID: a.Key, Name: assetLabel(a), Type: "device"}
	}
	u := map[string]any{"zone": f.Zone, "objective": string(f.Objective), "otaudit_status": string(f.Status)}
	if f.SubObjective != "" {
		u["sub_objective"] = f.SubObjective
	}
	if f.Key != "" {
		u["key"] = f.Key
	}
	if len(f.Refs.Disproves) > 0 {
		u["sr_disproved"] = srIDs(f.Refs.Disproves)
	}
	if len(f.Refs.ATTACK) > 0 {
		u["attack"] = f.Refs.ATTACK
	}
	if len(f.Evidence) > 0 {
		u["evidence"] = f.Evidence
	}
	if f.StatusReason != "" {
		u["status_reason"] = f.StatusReason
	}
	if f.StatusBy != "" {
		u["status_by"] = f.StatusBy
	}
	if !f.StatusUntil.IsZero() {
		u["status_until"] = isoTime(f.StatusUntil)
	}
	e.Unmapped = u
	return e
}

// checkResultEvents are the zone-level Compliance Findings of the latest
// scores: one per check result that no exported finding already reports.
func checkResultEvents(meta ocsfMetadata, doc Document, reported map[string]bool) []ocsfEvent {
	scanTime := map[uint64]time.Time{}
	for _, s := range doc.Scans {
		scanTime[s.ID] = cmp.Or(s.Finished, s.Started)
	}
	scores := slices.Clone(doc.Scores)
	slices.SortStableFunc(scores, func(a, b otaudit.ZoneScore) int { return cmp.Compare(a.Zone, b.Zone) })
	var events []ocsfEvent
	for _, zs := range scores {
		results := slices.Clone(zs.Results)
		slices.SortStableFunc(results, func(a, b otaudit.CheckResult) int { return cmp.Compare(a.CheckID, b.CheckID) })
		for _, r := range results {
			var status string
			var statusID int
			switch r.State {
			case otaudit.CheckPassed:
				status, statusID = "Pass", 1
			case otaudit.CheckNotAssessed:
				status, statusID = "Warning", 2
			case otaudit.CheckFailed:
				if reported[zs.Zone+"\x00"+r.CheckID] {
					continue
				}
				status, statusID = "Fail", 3
			default:
				continue
			}
			spec, _ := checks.Lookup(r.CheckID)
			title := cmp.Or(spec.Title, r.CheckID)
			standards, requirements := ocsfComplianceRefs(spec.Refs.Refs)
			detail := fmt.Sprintf("%s: %d in scope, %d failing", r.State, r.InScope, r.Failing)
			if r.Reason != "" {
				detail += "; " + r.Reason
			}
			sevID, sev := ocsfSeverity(r.Severity)
			if r.State != otaudit.CheckFailed {
				sevID, sev = 1, "Informational"
			}
			const activity = 1
			t := ocsfTime(scanTime[zs.ScanID], doc.Generated)
			zoneUID := "zone:" + zs.Zone
			e := ocsfEvent{
				ActivityID: activity, ActivityName: "Create",
				CategoryUID: 2, CategoryName: "Findings",
				ClassUID: OCSFClassComplianceFinding, ClassName: "Compliance Finding",
				TypeUID: OCSFClassComplianceFinding*100 + activity, TypeName: "Compliance Finding: Create",
				SeverityID: sevID, Severity: sev, Time: t,
				Message:  fmt.Sprintf("%s in zone %s: %s", r.CheckID, zs.Zone, r.State),
				Metadata: meta,
				FindingInfo: &ocsfFindingInfo{
					UID: "check:" + zs.Zone + ":" + r.CheckID, Title: title, Desc: detail,
					Analytic: &ocsfAnalytic{UID: r.CheckID, Name: title, Type: "Rule", TypeID: 1},
					Types:    []string{"IEC 62443 " + string(r.Objective)},
				},
				Compliance: &ocsfCompliance{Standards: standards, Requirements: requirements, Control: r.CheckID,
					Status: status, StatusID: statusID, StatusDetail: detail},
				Resources: []ocsfResource{{UID: zoneUID, Name: zs.Zone, Type: "zone"}},
				Unmapped: map[string]any{"zone": zs.Zone, "scan_id": zs.ScanID, "state": string(r.State),
					"in_scope": r.InScope, "failing": r.Failing, "objective": string(r.Objective)},
			}
			if r.State == otaudit.CheckFailed && spec.Remediation != "" {
				e.Remediation = &ocsfRemediation{Desc: spec.Remediation}
			}
			events = append(events, e)
		}
	}
	return events
}

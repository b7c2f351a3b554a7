package export

import (
	"net/netip"
	"time"

	"github.com/otaudit/otaudit"
)

// fixedDocument is a small zone with fixed times: a registered PLC with
// firmware and a serial, an unregistered laptop, findings in every
// lifecycle state, cells that a spreadsheet would run as formulas, and a
// score with PASS, FAIL, NOT_ASSESSED and NOT_APPLICABLE results.
func fixedDocument() Document {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	t1 := t0.Add(90 * time.Minute)
	plc := otaudit.Asset{
		Key: "ip:10.10.1.10", IP: netip.MustParseAddr("10.10.1.10"), MACs: []string{"00:80:f4:01:02:03"},
		MACVendor: "Telemecanique", Vendor: "Schneider Electric", Model: "TM221CE16R", ProductCode: "TM221",
		Firmware: "v3.1", Serial: "SN-0042", Name: "PLC-Filler", Role: "PLC",
		Services: []otaudit.Service{{Protocol: "modbus", Transport: otaudit.TCP, Port: 502}, {Protocol: "snmp", Transport: otaudit.UDP, Port: 161}},
		Zone:     "packaging", Registered: true, FirstSeen: t0, LastSeen: t1, Sources: []string{"pcap"},
	}
	laptop := otaudit.Asset{
		Key: "ip:10.10.1.77", IP: netip.MustParseAddr("10.10.1.77"), MACs: []string{"3c:52:82:aa:bb:cc", "3c:52:82:aa:bb:cd"},
		MACVendor: "Hewlett Packard", Name: "=HYPERLINK(\"http://evil\")", Role: "",
		Uses: []otaudit.Service{{Protocol: "modbus", Transport: otaudit.TCP, Port: 502}},
		Zone: "packaging", FirstSeen: t0.Add(time.Hour), LastSeen: t1, Sources: []string{"pcap"},
	}
	refs := otaudit.Refs{
		SR:           []otaudit.SRRef{{ID: "SR 1.5", SL: 1}, {ID: "SR 1.1 RE1", SL: 2}},
		Disproves:    []otaudit.SRRef{{ID: "SR 1.5", SL: 1}},
		IEC62443_2_1: []string{"AC 1.3"},
		IEC62443_4_2: []string{"CR 1.5"},
		ISO27001:     []string{"A.9.4.3"},
		ATTACK:       []string{"T0812"},
	}
	ev := []otaudit.Evidence{{Source: "pcap", Kind: "snmp_community", Detail: "SNMPv1 get with a default community (hmac-sha256:0011)",
		Client: "10.10.1.77", Server: "10.10.1.10:161", Count: 4, FirstFrame: 17, FirstSeen: t0.Add(time.Hour), LastSeen: t1}}
	findings := []otaudit.Finding{
		{ID: otaudit.FindingID("AC-DEFAULT-SNMP-COMMUNITY", plc.Key, ""), CheckID: "AC-DEFAULT-SNMP-COMMUNITY",
			Title: "Default SNMP community accepted", Objective: otaudit.ObjectiveAC, SubObjective: "AC 1",
			Severity: otaudit.SeverityHigh, Refs: refs, Zone: "packaging", AssetKey: plc.Key,
			Summary: "-1 checks: the PLC answers SNMP with a default community", Remediation: "Disable SNMPv1/v2c or set a unique community.",
			Evidence: ev, FirstSeen: t0.Add(time.Hour), LastSeen: t1, Status: otaudit.StatusOpen},
		{ID: otaudit.FindingID("AM-UNREGISTERED-DEVICE", laptop.Key, ""), CheckID: "AM-UNREGISTERED-DEVICE",
			Title: "Device not in the asset register", Objective: otaudit.ObjectiveAM, Severity: otaudit.SeverityMedium,
			Refs: otaudit.Refs{SR: []otaudit.SRRef{{ID: "SR 7.8", SL: 2}}}, Zone: "packaging", AssetKey: laptop.Key,
			Summary: "@laptop talks Modbus but is not registered", Evidence: nil,
			FirstSeen: t0.Add(time.Hour), LastSeen: t1, Status: otaudit.StatusAcceptedRisk,
			StatusReason: "contractor laptop during commissioning", StatusBy: "j.doe", StatusUntil: t0.Add(30 * 24 * time.Hour)},
		{ID: otaudit.FindingID("SI-UNAUTHORISED-WRITE", plc.Key, "10.10.1.77"), CheckID: "SI-UNAUTHORISED-WRITE",
			Title: "Unauthorised Modbus write", Objective: otaudit.ObjectiveSI, Severity: otaudit.SeverityCritical,
			Refs: otaudit.Refs{SR: []otaudit.SRRef{{ID: "SR 2.1", SL: 1}}}, Zone: "packaging", AssetKey: plc.Key, Key: "10.10.1.77",
			Summary: "writes from a host that is not an engineering host", FirstSeen: t0, LastSeen: t0.Add(time.Minute),
			Status: otaudit.StatusResolved},
		{ID: otaudit.FindingID("DC-CLEARTEXT-LOGIN", "ip:10.10.1.99", ""), CheckID: "DC-CLEARTEXT-LOGIN",
			Title: "Cleartext login", Objective: otaudit.ObjectiveDC, Severity: otaudit.SeverityLow,
			Refs: otaudit.Refs{SR: []otaudit.SRRef{{ID: "SR 4.1", SL: 1}}}, Zone: "packaging", AssetKey: "ip:10.10.1.99",
			Summary: "telnet login seen", FirstSeen: t0, LastSeen: t0, Status: otaudit.StatusFalsePositive, StatusReason: "lab device", StatusBy: "ops"},
	}
	score := otaudit.ZoneScore{
		Zone: "packaging", ScanID: 3,
		Objectives: []otaudit.ObjectiveScore{{Objective: otaudit.ObjectiveAC, Score: 40, Band: "poor", Assessed: 5, Applicable: 6, Coverage: 0.83}},
		FRs:        []otaudit.FRLevel{{FR: otaudit.FR1, Target: 2, Upper: 0, Lower: 0, DefiniteGap: 2, PotentialGap: 2, Failed: []string{"SR 1.5"}}},
		Results: []otaudit.CheckResult{
			{CheckID: "AC-DEFAULT-SNMP-COMMUNITY", Objective: otaudit.ObjectiveAC, State: otaudit.CheckFailed, InScope: 1, Failing: 1, Severity: otaudit.SeverityHigh},
			{CheckID: "AC-REMOTE-OUTSIDE-WINDOW", Objective: otaudit.ObjectiveAC, State: otaudit.CheckPassed, InScope: 2},
			{CheckID: "IM-SYSLOG-ABSENT", Objective: otaudit.ObjectiveIM, State: otaudit.CheckNotAssessed, Reason: "needs snmp"},
			{CheckID: "DC-OPCUA-SECURITY-NONE", Objective: otaudit.ObjectiveDC, State: otaudit.CheckNotApplicable, Reason: "no OPC UA server"},
			{CheckID: "RA-FLOOD", Objective: otaudit.ObjectiveRA, State: otaudit.CheckFailed, InScope: 3, Failing: 1, Severity: otaudit.SeverityMedium},
		},
		Backlog: []otaudit.BacklogItem{{FR: otaudit.FR1, Requirement: "SR 1.5", Level: 1, Severity: otaudit.SeverityHigh, Checks: []string{"AC-DEFAULT-SNMP-COMMUNITY"}}},
	}
	return Document{
		Generator: "otaudit v0.9.0-test",
		Generated: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC),
		Zone:      "packaging",
		Scans: []otaudit.Scan{{ID: 3, Zone: "packaging", Mode: "passive", Started: t0, Finished: t1.Add(time.Minute),
			Status: otaudit.ScanComplete, Sources: []string{"plant.pcap"},
			Stats: otaudit.ScanStats{Packets: 1200, Bytes: 99000, Observations: 80, Assets: 2, Findings: 4}}},
		// Out of key order on purpose: renderers must sort.
		Assets:   []otaudit.Asset{laptop, plc},
		Findings: findings,
		Scores:   []otaudit.ZoneScore{score},
	}
}

package snmp

import (
	"context"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/gosnmp/gosnmp"

	"github.com/otaudit/otaudit"
)

// Objects read in the collection phase.
const (
	oidSystem       = ".1.3.6.1.2.1.1"
	oidSysObjectID  = ".1.3.6.1.2.1.1.2.0"
	oidSysUpTime    = ".1.3.6.1.2.1.1.3.0"
	oidSysContact   = ".1.3.6.1.2.1.1.4.0"
	oidSysName      = ".1.3.6.1.2.1.1.5.0"
	oidSysLocation  = ".1.3.6.1.2.1.1.6.0"
	oidIfDescr      = ".1.3.6.1.2.1.2.2.1.2"
	oidIfPhysAddr   = ".1.3.6.1.2.1.2.2.1.6"
	oidIfOperStatus = ".1.3.6.1.2.1.2.2.1.8"
	oidEntPhysical  = ".1.3.6.1.2.1.47.1.1.1.1"
	oidEnterprises  = ".1.3.6.1.4.1"
	// SNMP-COMMUNITY-MIB snmpCommunityName, snmpCommunitySecurityName.
	oidCommunityName    = ".1.3.6.1.6.3.18.1.1.1.2"
	oidCommunitySecName = ".1.3.6.1.6.3.18.1.1.1.3"
	// SNMP-VIEW-BASED-ACM-MIB vacmGroupName, vacmAccessWriteViewName.
	oidVacmGroupName = ".1.3.6.1.6.3.16.1.2.1.3"
	oidVacmWriteView = ".1.3.6.1.6.3.16.1.4.1.6"
	// vacmViewTreeFamilyType: 1 included, 2 excluded.
	oidVacmViewType = ".1.3.6.1.6.3.16.1.5.2.1.4"
)

// entPhysicalTable columns read (RFC 6933).
const (
	entClass        = 5
	entHardwareRev  = 8
	entFirmwareRev  = 9
	entSoftwareRev  = 10
	entSerialNum    = 11
	entMfgName      = 12
	entModelName    = 13
	entClassChassis = 3
)

var entColumns = []int{entClass, entHardwareRev, entFirmwareRev, entSoftwareRev, entSerialNum, entMfgName, entModelName}

type entityRow map[int]string

// collect reads the system group, interfaces, ENTITY-MIB and VACM with
// cred, each bounded.
func (p *probe) collect(ctx context.Context, cred credential) {
	g, err := p.client(cred)
	if err != nil {
		p.errs = append(p.errs, err)
		return
	}
	defer g.Conn.Close()
	p.walkRetries = max(p.s.Limits().Retries, 0)
	res, err := p.do(ctx, g, kindGet, detailSystem, p.retryBudget(), func() (*gosnmp.SnmpPacket, error) {
		return g.Get([]string{oidSysDescr, oidSysObjectID, oidSysUpTime, oidSysContact, oidSysName, oidSysLocation})
	})
	if err == nil && res != nil {
		p.system = map[string]string{}
		for _, v := range res.Variables {
			p.system["."+strings.TrimPrefix(v.Name, ".")] = renderValue(v)
		}
	}

	ifs := p.walk(ctx, g, detailInterfaces, []string{oidIfDescr, oidIfPhysAddr, oidIfOperStatus})
	for _, idx := range ifs.order {
		r := ifs.rows[idx]
		p.ifaces = append(p.ifaces, iface{descr: renderValue(r[0]), mac: macValue(r[1]), status: operStatus(r[2])})
	}

	cols := make([]string, len(entColumns))
	for i, c := range entColumns {
		cols[i] = oidEntPhysical + "." + strconv.Itoa(c)
	}
	ent := p.walk(ctx, g, detailEntity, cols)
	for _, idx := range ent.order {
		row := entityRow{}
		for i, c := range entColumns {
			if v, ok := ent.rows[idx][i]; ok {
				row[c] = renderValue(v)
			}
		}
		p.entity = append(p.entity, row)
	}
	p.inferWriteAccess(ctx, g)
}

func operStatus(v gosnmp.SnmpPDU) string {
	n, ok := intValue(v)
	if !ok {
		return ""
	}
	names := []string{1: "up", 2: "down", 3: "testing", 4: "unknown", 5: "dormant", 6: "notPresent", 7: "lowerLayerDown"}
	if n >= 1 && n < int64(len(names)) {
		return names[n]
	}
	return strconv.FormatInt(n, 10)
}

// table is what a bounded walk returned: rows by index suffix, in order,
// each holding the columns' values by column position.
type table struct {
	order []string
	rows  map[string]map[int]gosnmp.SnmpPDU
	// complete: the walk saw the end of every column. A walk cut short
	// (row cap, request cap, a request that failed) may miss rows, so
	// what is absent from it proves nothing.
	complete bool
}

// walk reads columns of one table row by row: GETBULK (v2c, v3) or GETNEXT
// (v1), at most rowCap rows and walkRequests requests (plus what is left
// of the collection's shared retry budget), stopping a column when it
// leaves its subtree, stops moving forward (a lying agent must not loop
// us) or the agent says end of view.
func (p *probe) walk(ctx context.Context, g *gosnmp.GoSNMP, detail string, columns []string) table {
	t := table{rows: map[string]map[int]gosnmp.SnmpPDU{}}
	next := slices.Clone(columns)
	done := make([]bool, len(columns))
	kind := kindGetBulk
	if g.Version == gosnmp.Version1 {
		kind = kindGetNext
	}
	pages, rowCap := p.c.walkRequests(g.Version), p.c.rowCap(g.Version)
	truncated := false
	for page := 0; page < pages && ctx.Err() == nil; page++ {
		var act []int
		var oids []string
		for c := range columns {
			if !done[c] {
				act = append(act, c)
				oids = append(oids, next[c])
			}
		}
		if len(act) == 0 {
			break
		}
		reps := uint32(min(bulkRepetitions, rowCap-len(t.order)+1))
		res, err := p.do(ctx, g, kind, detail, &p.walkRetries, func() (*gosnmp.SnmpPacket, error) {
			if kind == kindGetNext {
				return g.GetNext(oids)
			}
			return g.GetBulk(oids, 0, reps)
		})
		if err == nil && res != nil && g.Version == gosnmp.Version1 && res.Error == gosnmp.NoSuchName &&
			res.ErrorIndex >= 1 && int(res.ErrorIndex) <= len(act) {
			// v1's way of saying end of view for one of the columns;
			// the others are asked again on the next request.
			done[act[res.ErrorIndex-1]] = true
			continue
		}
		if err != nil || res == nil || res.Error != gosnmp.NoError {
			break
		}
		progressed := false
		for i, v := range res.Variables {
			c := act[i%len(act)]
			if done[c] {
				continue
			}
			switch {
			case v.Type == gosnmp.EndOfMibView || v.Type == gosnmp.NoSuchObject || v.Type == gosnmp.NoSuchInstance,
				!oidUnder(v.Name, columns[c]), compareOIDs(v.Name, next[c]) <= 0:
				done[c] = true
				continue
			}
			idx := oidSuffix(v.Name, columns[c])
			row, ok := t.rows[idx]
			if !ok {
				if len(t.order) >= rowCap {
					done[c] = true
					truncated = true
					continue
				}
				row = map[int]gosnmp.SnmpPDU{}
				t.rows[idx] = row
				t.order = append(t.order, idx)
			}
			row[c] = v
			next[c] = v.Name
			progressed = true
		}
		if !progressed {
			break
		}
	}
	slices.SortFunc(t.order, compareOIDs)
	t.complete = !truncated && !slices.Contains(done, false)
	return t
}

// inferWriteAccess reads the VACM tables (never a SET) and sets Access on
// every accepted credential: "write" when its group has a write view for
// its model and level, "read" when it has access rows but no write view,
// else "unknown" (tables not readable or the community's security name
// not visible).
func (p *probe) inferWriteAccess(ctx context.Context, g *gosnmp.GoSNMP) {
	comm := p.walk(ctx, g, detailCommunities, []string{oidCommunityName, oidCommunitySecName})
	groups := p.walk(ctx, g, detailVACMGroups, []string{oidVacmGroupName})
	if len(groups.order) == 0 {
		return
	}
	acc := p.walk(ctx, g, detailVACMAccess, []string{oidVacmWriteView})
	views := p.walk(ctx, g, detailVACMViews, []string{oidVacmViewType})
	// A write view counts only if it includes some subtree: net-snmp
	// names "no view" "none", which has no family entries.
	included := map[string]bool{}
	for _, idx := range views.order {
		name, _, ok := octetIndex(strings.Split(idx, "."))
		if n, isInt := intValue(views.rows[idx][0]); ok && isInt && n == 1 {
			included[name] = true
		}
	}
	writeView := func(name []byte) string {
		switch {
		case len(name) == 0:
			return "none"
		case included[string(name)]:
			return "yes"
		case len(views.order) == 0 || !views.complete:
			return "unknown" // the view table is not readable, or not all of it
		}
		return "none"
	}
	// group (by model and security name) and access rows (by group).
	groupOf := map[string]string{} // "model/secName" → group
	for _, idx := range groups.order {
		parts := strings.Split(idx, ".")
		if len(parts) < 2 {
			continue
		}
		name, rest, ok := octetIndex(parts[1:])
		if !ok || len(rest) != 0 {
			continue
		}
		b, _ := groups.rows[idx][0].Value.([]byte)
		groupOf[parts[0]+"/"+name] = string(b)
	}
	type accessRow struct {
		model, level int
		write        string // yes, none, unknown
	}
	rowsOf := map[string][]accessRow{}
	for _, idx := range acc.order {
		parts := strings.Split(idx, ".")
		group, rest, ok := octetIndex(parts)
		if !ok {
			continue
		}
		if _, rest, ok = octetIndex(rest); !ok || len(rest) != 2 { // context prefix
			continue
		}
		model, _ := strconv.Atoi(rest[0])
		level, _ := strconv.Atoi(rest[1])
		b, _ := acc.rows[idx][0].Value.([]byte)
		rowsOf[group] = append(rowsOf[group], accessRow{model: model, level: level, write: writeView(b)})
	}
	verdict := func(group string, model, level int) string {
		verdict := ""
		for _, r := range rowsOf[group] {
			if (r.model == model || r.model == 0) && r.level <= level {
				switch {
				case r.write == "yes":
					return "write"
				case r.write == "unknown" || verdict == "unknown":
					verdict = "unknown"
				default:
					verdict = "read"
				}
			}
		}
		if verdict == "" || verdict == "read" && !acc.complete {
			// A write row may be among the rows the walk did not get.
			return "unknown"
		}
		return verdict
	}
	for _, a := range p.accesses {
		if !a.obs.Accepted {
			continue
		}
		model, level, secName := 0, 1, ""
		switch a.cred.version {
		case gosnmp.Version1:
			model = 1
		case gosnmp.Version2c:
			model = 2
		default:
			model, secName = 3, a.cred.user.Name
			level = map[gosnmp.SnmpV3MsgFlags]int{gosnmp.NoAuthNoPriv: 1, gosnmp.AuthNoPriv: 2, gosnmp.AuthPriv: 3}[a.cred.level]
		}
		if model != 3 {
			// The community's security name, if the agent shows its
			// community table; the community values are compared here
			// and never kept.
			for _, idx := range comm.order {
				name, _ := comm.rows[idx][0].Value.([]byte)
				sec, _ := comm.rows[idx][1].Value.([]byte)
				if len(sec) > 0 && string(name) == a.cred.community.Reveal() {
					secName = string(sec)
				}
			}
		}
		if group, ok := groupOf[strconv.Itoa(model)+"/"+secName]; ok && secName != "" {
			a.obs.Access = verdict(group, model, level)
			continue
		}
		if model == 3 || !groups.complete {
			continue
		}
		// Security name unknown: if every group mapped for this model
		// agrees, the community (one of them) has that access.
		var all []string
		for k, group := range groupOf {
			if strings.HasPrefix(k, strconv.Itoa(model)+"/") {
				all = append(all, verdict(group, model, level))
			}
		}
		slices.Sort(all)
		if all = slices.Compact(all); len(all) == 1 && all[0] != "unknown" {
			a.obs.Access = all[0]
		}
	}
}

// vendors maps sysObjectID enterprise numbers (IANA Private Enterprise
// Numbers) to vendor names, only for numbers checked against the registry.
var vendors = map[string]string{
	"9":    "Cisco",
	"11":   "Hewlett-Packard",
	"311":  "Microsoft",
	"2011": "Huawei",
	"2636": "Juniper Networks",
	"4329": "Siemens",
	"8072": "Net-SNMP",
	"248":  "Hirschmann",
	"8691": "Moxa",
	"4346": "Phoenix Contact",
}

var (
	reFirmware = regexp.MustCompile(`(?i)\b(?:FW|firmware)(?:[ :]+version)?[ :]+(V?\d[\w.\-()]*)`)
	reVersion  = regexp.MustCompile(`(?i)\bVersion[ :]+(V?\d[\w.\-()]*)`)
)

// systemIdentity derives what sysObjectID and sysDescr honestly say: the
// vendor from the enterprise number, the firmware from an explicit
// "FW:"/"Firmware" or (for Cisco-style descriptions) "Version" field, and
// for Siemens' "vendor, family, model, HW:, FW:" layout the model field.
func systemIdentity(ip netip.Addr, sys map[string]string) (otaudit.DeviceIdentity, bool) {
	id := otaudit.DeviceIdentity{IP: ip, Method: "snmp-system", Name: sys[oidSysName]}
	descr := sys[oidSysDescr]
	if oid := sys[oidSysObjectID]; oidUnder(oid, oidEnterprises) {
		pen, _, _ := strings.Cut(oidSuffix(oid, oidEnterprises), ".")
		id.Vendor = vendors[pen]
	}
	if m := reFirmware.FindStringSubmatch(descr); m != nil {
		id.Firmware = m[1]
	} else if id.Vendor == "Cisco" {
		if m := reVersion.FindStringSubmatch(descr); m != nil {
			id.Firmware = strings.TrimRight(m[1], ",")
		}
	}
	if id.Vendor == "Siemens" {
		fields := strings.Split(descr, ",")
		for i, f := range fields {
			f = strings.TrimSpace(f)
			if i >= 1 && (strings.HasPrefix(f, "HW:") || strings.HasPrefix(f, "FW:")) {
				if m := strings.TrimSpace(fields[i-1]); i >= 2 && !strings.EqualFold(m, "SIMATIC NET") {
					id.Model = m
				}
				break
			}
		}
	}
	return id, id.Vendor != "" || id.Firmware != "" || id.Model != "" || id.Name != ""
}

// entityIdentity takes the chassis row of the ENTITY-MIB (or the first row
// that names a model or serial).
func entityIdentity(ip netip.Addr, rows []entityRow, name string) (otaudit.DeviceIdentity, bool) {
	var pick entityRow
	for _, r := range rows {
		if r[entClass] == strconv.Itoa(entClassChassis) && (r[entModelName] != "" || r[entSerialNum] != "") {
			pick = r
			break
		}
	}
	if pick == nil {
		for _, r := range rows {
			if r[entModelName] != "" || r[entSerialNum] != "" {
				pick = r
				break
			}
		}
	}
	if pick == nil {
		return otaudit.DeviceIdentity{}, false
	}
	fw := pick[entFirmwareRev]
	if fw == "" {
		fw = pick[entSoftwareRev]
	}
	return otaudit.DeviceIdentity{IP: ip, Method: "snmp-entity", Vendor: pick[entMfgName], Model: pick[entModelName],
		Serial: pick[entSerialNum], Firmware: fw, Name: name}, true
}

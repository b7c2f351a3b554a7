package configs

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/otaudit/otaudit"
)

// maxRegisterBytes bounds the register CSV; a plant register of a hundred
// thousand devices is a few megabytes.
const maxRegisterBytes = 64 << 20

// registerColumns are the CSV columns, in the order the header documents.
var registerColumns = []string{"ip", "mac", "name", "vendor", "model", "firmware", "role"}

// registerEntry is a register row with where it was written.
type registerEntry struct {
	asset otaudit.RegisteredAsset
	at    position
	field string
}

// normalizeMAC accepts the usual EUI-48 spellings (00:80:F4:01:02:03,
// 00-80-f4-01-02-03, 0080.f401.0203, 0080f4010203) and returns the
// lower-case colon form observations use, so register look-ups compare
// equal strings.
func normalizeMAC(s string) (string, error) {
	t := strings.TrimSpace(s)
	if len(t) == 12 && !strings.ContainsAny(t, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(t[i : i+2])
		}
		t = b.String()
	}
	hw, err := net.ParseMAC(t)
	if err != nil || len(hw) != 6 {
		return "", fmt.Errorf("invalid MAC address %q (want six bytes such as 00:80:f4:01:02:03)", s)
	}
	return hw.String(), nil
}

// register merges the inline register and the CSV into the zone's register,
// in that order, and reports the CSV's problems and duplicate IPs. It
// returns nil when the zone has no register at all.
func (z *ZoneConfig) register(cfgFile string) ([]otaudit.RegisteredAsset, []Problem) {
	if z.Assets == nil && z.AssetRegisterCSV == "" {
		return nil, nil
	}
	entries := make([]registerEntry, 0, len(z.Assets))
	for i, a := range z.Assets {
		at := position{file: cfgFile}
		if i < len(z.origins.assets) {
			at = z.origins.assets[i]
		}
		entries = append(entries, registerEntry{asset: a, at: at, field: indexField("zone.assets", i)})
	}
	var problems []Problem
	if z.AssetRegisterCSV != "" {
		rows, csvProblems, err := readRegisterCSV(z.AssetRegisterCSV)
		if err != nil {
			at := z.origins.registerCSV
			if at.file == "" {
				at.file = cfgFile
			}
			problems = append(problems, Problem{File: at.file, Line: at.line, Column: at.column,
				Field: "zone.asset_register_csv", Message: err.Error()})
		}
		problems = append(problems, csvProblems...)
		entries = append(entries, rows...)
	}
	// Two entries for one IP would make Lookup's answer depend on order;
	// the operator has to say which one is right.
	first := make(map[netip.Addr]registerEntry)
	out := make([]otaudit.RegisteredAsset, 0, len(entries))
	for _, e := range entries {
		if ip := e.asset.IP; ip.IsValid() {
			if prev, dup := first[ip]; dup {
				problems = append(problems, Problem{File: e.at.file, Line: e.at.line, Column: e.at.column,
					Field: e.field, Message: fmt.Sprintf("duplicate IP %s in the asset register (already at %s)", ip, prev.at)})
				continue
			}
			first[ip] = e
		}
		out = append(out, e.asset)
	}
	return out, problems
}

// readRegisterCSV reads an RFC 4180 asset register whose header names some
// of ip,mac,name,vendor,model,firmware,role (ip or mac required), in any
// order. Row problems name the CSV file, line, column and the column name;
// err is for a file that cannot be read at all.
func readRegisterCSV(path string) (rows []registerEntry, problems []Problem, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read asset register: %w", err)
	}
	defer f.Close()
	// Only a regular file: a FIFO or device named by mistake would block
	// the load or read forever.
	if st, err := f.Stat(); err != nil {
		return nil, nil, fmt.Errorf("cannot read asset register: %w", err)
	} else if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("cannot read asset register %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxRegisterBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read asset register %s: %w", path, err)
	}
	if len(data) > maxRegisterBytes {
		return nil, nil, fmt.Errorf("asset register %s is larger than %d MiB", path, maxRegisterBytes>>20)
	}
	// Spreadsheet exports often start with a UTF-8 byte-order mark.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))

	problem := func(line, col int, field, format string, args ...any) {
		problems = append(problems, Problem{File: path, Line: line, Column: col, Field: field, Message: fmt.Sprintf(format, args...)})
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1 // checked below, so one short row does not hide the rest
	r.ReuseRecord = false

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		problem(1, 0, "", "empty asset register: want a header line %s", strings.Join(registerColumns, ","))
		return nil, problems, nil
	}
	if err != nil {
		problems = append(problems, csvProblem(path, err))
		return nil, problems, nil
	}
	column := make(map[string]int) // column name → index
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		line, col := r.FieldPos(i)
		switch {
		case !slices.Contains(registerColumns, name):
			problem(line, col, "", "unknown column %q in the header (want %s)", h, strings.Join(registerColumns, ","))
		case column[name] != 0:
			problem(line, col, "", "column %q appears twice in the header", name)
		default:
			column[name] = i + 1 // +1 so that 0 means absent
		}
	}
	if column["ip"] == 0 && column["mac"] == 0 {
		problem(1, 0, "", "the header needs an ip or a mac column")
		return nil, problems, nil
	}

	for {
		record, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// After a quoting error the reader's position is unreliable:
			// report it and stop rather than invent follow-on problems.
			problems = append(problems, csvProblem(path, err))
			break
		}
		line, _ := r.FieldPos(0)
		if len(record) != len(header) {
			problem(line, 0, "", "%d fields, the header has %d", len(record), len(header))
			continue
		}
		value := func(col string) (string, int) {
			i := column[col]
			if i == 0 {
				return "", 0
			}
			_, c := r.FieldPos(i - 1)
			return strings.TrimSpace(record[i-1]), c
		}
		var a otaudit.RegisteredAsset
		ok := true
		ipText, ipCol := value("ip")
		if ipText != "" {
			ip, msg := parseHostAddr(ipText)
			if msg != "" {
				problem(line, ipCol, "ip", "%s", msg)
				ok = false
			}
			a.IP = ip
		}
		if macText, macCol := value("mac"); macText != "" {
			mac, err := normalizeMAC(macText)
			if err != nil {
				problem(line, macCol, "mac", "%v", err)
				ok = false
			}
			a.MAC = mac
		}
		a.Name, _ = value("name")
		a.Vendor, _ = value("vendor")
		a.Model, _ = value("model")
		a.Firmware, _ = value("firmware")
		a.Role, _ = value("role")
		if ok && !a.IP.IsValid() && a.MAC == "" {
			problem(line, 0, "", "a register entry needs an ip or a mac")
			ok = false
		}
		if !ok {
			continue
		}
		at := position{file: path, line: line, column: 1}
		if ipText != "" {
			at.column = ipCol
		}
		rows = append(rows, registerEntry{asset: a, at: at, field: "ip"})
	}
	return rows, problems, nil
}

func csvProblem(path string, err error) Problem {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return Problem{File: path, Line: pe.Line, Column: pe.Column, Message: "CSV: " + pe.Err.Error()}
	}
	return Problem{File: path, Message: "CSV: " + err.Error()}
}

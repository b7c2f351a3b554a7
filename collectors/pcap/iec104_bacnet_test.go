package pcap

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/otaudit/otaudit"
)

// ASDU counts per type identification from EXPECTED.md (tshark's
// iec60870_asdu.typeid); otaudit's Requests+Responses per type must match.
var iec104Expected = map[string]struct {
	client, server string
	commonAddress  int
	asdus          map[int]int64
}{
	"iec104_control_commands.pcap": {"10.20.102.1", "10.20.100.108", 10, map[int]int64{
		1: 3, 3: 3, 5: 3, 7: 3, 9: 3, 11: 3, 13: 3, 30: 3, 31: 3, 32: 3, 33: 3, 34: 3, 35: 3, 36: 3,
		45: 6, 46: 6, 47: 6, 48: 6, 49: 6, 50: 6, 51: 6, 70: 1, 100: 6}},
	"iec104_diverse_asdus.pcap": {"10.0.0.10", "10.0.0.10", 3, map[int]int64{
		1: 1, 13: 14, 30: 8, 45: 5, 46: 6, 50: 10, 58: 5, 59: 10, 61: 5, 63: 5, 100: 3}},
}

func iec104Counts(r *Result) (map[int]int64, []*otaudit.Operation) {
	got := map[int]int64{}
	var ops []*otaudit.Operation
	for _, o := range r.Observations {
		if o.Kind == otaudit.KindOperation && o.Operation.Protocol == "iec104" {
			got[o.Operation.Function] += o.Operation.Requests + o.Operation.Responses
			ops = append(ops, o.Operation)
		}
	}
	return got, ops
}

func TestIEC104SharedCaptures(t *testing.T) {
	dir := sharedPcaps(t)
	tshark, _ := exec.LookPath("tshark")
	for file, want := range iec104Expected {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			if r.Stats.DecodeErrors != 0 {
				t.Errorf("decode errors: %d %v", r.Stats.DecodeErrors, r.Stats.Warnings)
			}
			got, ops := iec104Counts(r)
			if !maps.Equal(got, want.asdus) {
				t.Errorf("ASDUs per type id:\n got  %v\n want %v (EXPECTED.md)", got, want.asdus)
			}
			for _, op := range ops {
				if op.Client.String() != want.client || op.Server.String() != want.server || op.Unit != want.commonAddress {
					t.Errorf("operation %+v: want client %s server %s common address %d", op, want.client, want.server, want.commonAddress)
				}
				// Commands are writes and are sent by the controlling station.
				if op.Function >= 45 && op.Function <= 64 && (op.Class != otaudit.OpWrite || op.Requests == 0) {
					t.Errorf("command %s: class %s requests %d", op.Name, op.Class, op.Requests)
				}
				if op.Function == 100 && op.Class != otaudit.OpRead {
					t.Errorf("general interrogation classed %s", op.Class)
				}
			}
			if tshark == "" {
				return
			}
			out := runTshark(context.Background(), t, tshark, "-n", "-r", filepath.Join(dir, file), "-Y", "iec60870_asdu",
				"-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,", "-e", "iec60870_asdu.typeid")
			ts := map[int]int64{}
			for _, line := range strings.Fields(out) {
				for _, id := range strings.Split(line, ",") {
					var n int
					if _, err := fmt.Sscan(id, &n); err == nil {
						ts[n]++
					}
				}
			}
			if !maps.Equal(got, ts) {
				t.Errorf("ASDUs per type id differ from tshark:\n got  %v\n tshark %v", got, ts)
			}
		})
	}
}

// bacnetExpected: per service name, requests / responses / exceptions as
// EXPECTED.md counts Confirmed-REQ, ACK+Error and Error; I-Am devices.
var bacnetExpected = map[string]struct {
	ops   map[string][3]int64
	iams  map[string]string // ip → "device <instance>|vendor"
	count int
}{
	"bacnet_ip_41hosts_whois_iam.pcap": {
		ops: map[string][3]int64{"readProperty": {1400, 1400, 0}, "reinitializeDevice": {120, 120, 90}, "who-Is": {7, 0, 0}},
		iams: map[string]string{
			"172.20.32.108": "device 721|Cornell University",
			"172.20.32.107": "device 456|BACnet vendor 123",
			"172.20.32.116": "device 661|Siemens Schweiz AG (Formerly: Cerberus AG)",
			"172.20.32.101": "device 276|BACnet vendor 167",
		},
		count: 30,
	},
	// The second I-Am of this capture travels over 802.3/LLC without IP:
	// tshark lists it with no address, otaudit has no IP to attach it to.
	"bacnet_ip_wireshark_sample.pcap": {
		ops:   map[string][3]int64{"readProperty": {416, 416, 43}},
		iams:  map[string]string{"192.168.0.13": "device 111|Acuity Brands Lighting, Inc."},
		count: 1,
	},
}

func TestBACnetSharedCaptures(t *testing.T) {
	dir := sharedPcaps(t)
	for file, want := range bacnetExpected {
		t.Run(file, func(t *testing.T) {
			r := analyzeShared(t, dir, file)
			ops := map[string][3]int64{}
			iams := map[string]string{}
			for _, o := range r.Observations {
				switch {
				case o.Kind == otaudit.KindOperation && o.Operation.Protocol == "bacnet":
					p := o.Operation
					v := ops[p.Name]
					v[0], v[1], v[2] = v[0]+p.Requests, v[1]+p.Responses, v[2]+p.Exceptions
					ops[p.Name] = v
					if p.Name == "reinitializeDevice" && (p.Class != otaudit.OpRestart || p.Client.String() != "172.20.32.250") {
						t.Errorf("reinitializeDevice: %+v", p)
					}
				case o.Kind == otaudit.KindIdentity && o.Identity.Method == "bacnet-iam":
					iams[o.Identity.IP.String()] = o.Identity.Name + "|" + o.Identity.Vendor
				}
			}
			if !maps.Equal(ops, want.ops) {
				t.Errorf("services:\n got  %v\n want %v", ops, want.ops)
			}
			if len(iams) != want.count {
				t.Errorf("%d I-Am devices, want %d", len(iams), want.count)
			}
			for ip, w := range want.iams {
				if iams[ip] != w {
					t.Errorf("I-Am %s = %q, want %q", ip, iams[ip], w)
				}
			}
		})
	}
}

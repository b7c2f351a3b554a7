package discovery

import (
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad test hex: %v", err)
	}
	return b
}

func TestParseLLDP(t *testing.T) {
	ciscoDesc := "Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE, RELEASE SOFTWARE (fc1) " +
		"Copyright (c) 1986-2008 by Cisco Systems, Inc. Compiled Sat 05-Jan-08 00:15 by weiliu"
	tests := []struct {
		name  string
		frame string
		want  LLDP
		desc  Description
	}{
		{"cisco S2, MAC chassis, no management address", lldpCiscoS2, LLDP{
			ChassisID: "00:19:2f:a7:b2:8d", PortID: "Uplink to S1", PortDesc: "GigabitEthernet0/13", SystemName: "S2.cisco.com",
			SystemDesc: ciscoDesc, Capabilities: 0x0014, Enabled: 0x0004, HasCaps: true,
		}, Description{Vendor: "Cisco", Firmware: "12.2(44)SE"}},
		{"scalance X212-2 (plant1)", lldpScalance, LLDP{
			ChassisID: "switch1", PortID: "port-001", PortDesc: "Siemens, SIMATIC NET, Ethernet Switch Port 01", SystemName: "Switch1",
			SystemDesc:   "Siemens, SIMATIC NET, SCALANCE X212-2, 6GK5 212-2BB00-2AA3, HW: 7, FW: V4.02",
			Capabilities: 0x0080, Enabled: 0x0080, HasCaps: true,
			Management: []netip.Addr{netip.MustParseAddr("141.81.0.190")},
		}, Description{Vendor: "Siemens", Model: "SCALANCE X212-2", ProductCode: "6GK5 212-2BB00-2AA3", Firmware: "V4.02"}},
		{"S7-1200 CPU", lldpS71200, LLDP{
			ChassisID: "S7-1200                   6ES7 214-1AG40-0XB0  S V-K2C13707         7 V  4  2  1", PortID: "port-001.plcxb1d0ed",
			PortDesc:     "Siemens, SIMATIC S7, Ethernet Port, X1 P1",
			SystemDesc:   "Siemens, SIMATIC S7, CPU-1200, 6ES7 214-1AG40-0XB0, HW: 7, FW: V.4.2.1, S V-K2C13707",
			Capabilities: 0x0084, Enabled: 0x0084, HasCaps: true,
			Management: []netip.Addr{netip.MustParseAddr("192.168.0.1")},
		}, Description{Vendor: "Siemens", Model: "CPU-1200", ProductCode: "6ES7 214-1AG40-0XB0", Firmware: "V.4.2.1", Serial: "S V-K2C13707"}},
		{"KTP700 HMI", lldpKTP700, LLDP{
			ChassisID: "hmixb110d0", PortID: "port-001", PortDesc: "Siemens, SIMATIC S7, Ethernet Port, X1 P1",
			SystemDesc:   "Siemens, SIMATIC HMI, KTP700 Basic, 6AV2 123-2GB03-0AX0, HW:0, SW.V 13.0.1",
			Capabilities: 0x0084, Enabled: 0x0084, HasCaps: true,
			Management: []netip.Addr{netip.MustParseAddr("192.168.0.2")},
		}, Description{Vendor: "Siemens", Model: "KTP700 Basic", ProductCode: "6AV2 123-2GB03-0AX0", Firmware: "V13.0.1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseLLDP(unhex(t, tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			if got.ChassisID != tc.want.ChassisID || got.PortID != tc.want.PortID || got.PortDesc != tc.want.PortDesc ||
				got.SystemName != tc.want.SystemName || got.SystemDesc != tc.want.SystemDesc ||
				got.Capabilities != tc.want.Capabilities || got.Enabled != tc.want.Enabled || got.HasCaps != tc.want.HasCaps ||
				!slices.Equal(got.Management, tc.want.Management) {
				t.Errorf("ParseLLDP:\n got  %+v\n want %+v", got, tc.want)
			}
			if d := ParseDescription(got.SystemDesc); d != tc.desc {
				t.Errorf("ParseDescription(%q):\n got  %+v\n want %+v", got.SystemDesc, d, tc.desc)
			}
		})
	}
}

func TestParseDescriptionUnstructured(t *testing.T) {
	for _, s := range []string{
		"", "Linux switch 5.10", "Siemens AG SIMATIC S7 MULTIPORT SCALANCE X 200 FAM", "ASUSTeK COMPUTER INC. G750JHA,1.0,D9N0CY280463389",
		"Siemens, SIMATIC NET, no order number here, FW: V1",
	} {
		if d := ParseDescription(s); d != (Description{}) {
			t.Errorf("ParseDescription(%q) = %+v, want nothing from free text", s, d)
		}
	}
}

func TestParseLLDPMalformed(t *testing.T) {
	good := unhex(t, lldpScalance)
	for name, b := range map[string][]byte{
		"empty":              {},
		"cut TLV header":     {0x02},
		"length overruns":    {0x02, 0x10, 0x04, 0x01},
		"port ID first":      {0x04, 0x02, 0x07, 'x', 0, 0},
		"cut in system desc": good[:60],
	} {
		if _, err := ParseLLDP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseCDP(t *testing.T) {
	c, err := ParseCDP(unhex(t, cdpCiscoS1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Version != 2 || c.DeviceID != "S1" || c.Platform != "cisco WS-C3560-24TS" || c.PortID != "FastEthernet0/13" ||
		!strings.HasPrefix(c.Software, "Cisco IOS Software, C3560 Software (C3560-ADVIPSERVICESK9-M), Version 12.2(44)SE") ||
		c.Capabilities != 0x28 {
		t.Errorf("ParseCDP = %+v", c)
	}
	// tshark shows the address TLV as empty: it holds 0.0.0.0.
	if len(c.Addresses) != 0 {
		t.Errorf("addresses = %v, want none (0.0.0.0 is no address)", c.Addresses)
	}
	if !IsCDP([]byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x00, 2}) || IsCDP([]byte{0xaa, 0xaa, 0x03, 0x00, 0x00, 0x0c, 0x20, 0x04}) {
		t.Error("IsCDP does not tell the CDP SNAP header from others")
	}
	// An address TLV with one IPv4 address, built here.
	withAddr := []byte{2, 180, 0, 0, 0x00, 0x02, 0x00, 0x11, 0, 0, 0, 1, 1, 1, 0xcc, 0, 4, 10, 1, 2, 3}
	c, err = ParseCDP(withAddr)
	if err != nil || !slices.Equal(c.Addresses, []netip.Addr{netip.MustParseAddr("10.1.2.3")}) {
		t.Errorf("address TLV: %+v, %v", c, err)
	}
	for name, b := range map[string][]byte{
		"short":         {2, 180},
		"bad version":   {9, 180, 0, 0},
		"TLV overruns":  {2, 180, 0, 0, 0, 1, 0, 40, 'S'},
		"TLV too short": {2, 180, 0, 0, 0, 1, 0, 2},
	} {
		if _, err := ParseCDP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseDCP(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		name    string
		frame   string
		want    DCP
		request bool
	}{
		{"identify request with a name filter", dcpIdentifyRequest, DCP{FrameID: DCPIdentifyRequest, Service: DCPServiceIdentify,
			ServiceType: DCPRequest, XID: 0x0300bf9a}, true},
		{"identify response versamax", dcpIdentifyResponse, DCP{FrameID: DCPIdentifyResponse, Service: DCPServiceIdentify,
			ServiceType: DCPResponseSuccess, XID: 1, NameOfStation: "versamax-pns11", Vendor: "IC200PNS001", VendorID: 0x015a, DeviceID: 0x0003,
			HasIDs: true, Role: 1, IP: ip("192.168.1.2"), Mask: ip("255.255.255.0"), Gateway: ip("192.168.1.2")}, false},
		{"identify response X208", dcpIdentifyResponseX208, DCP{FrameID: DCPIdentifyResponse, Service: DCPServiceIdentify,
			ServiceType: DCPResponseSuccess, XID: 0x01000001, NameOfStation: "X208-BORD", Vendor: "INC", VendorID: 0x002a, DeviceID: 0x0a01,
			HasIDs: true, Role: 1, IP: ip("192.168.0.6"), Mask: ip("255.255.255.0"), Gateway: ip("192.168.0.1")}, false},
		{"set IP request", dcpSetIP, DCP{FrameID: DCPGetSet, Service: DCPServiceSet, ServiceType: DCPRequest, XID: 0x01000001,
			IP: ip("192.168.0.10"), Mask: ip("255.255.255.0"), Gateway: ip("192.168.0.1")}, true},
		{"set response", dcpSetResponse, DCP{FrameID: DCPGetSet, Service: DCPServiceSet, ServiceType: DCPResponseSuccess, XID: 0x01000001}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDCP(unhex(t, tc.frame))
			if err != nil {
				t.Fatal(err)
			}
			got.Options = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ParseDCP:\n got  %+v\n want %+v", got, tc.want)
			}
			if got.IsRequest() != tc.request {
				t.Errorf("IsRequest = %v", got.IsRequest())
			}
		})
	}
	for name, b := range map[string][]byte{
		"short":          {0xfe, 0xfe, 5, 0},
		"not DCP":        {0x80, 0x00, 5, 0, 0, 0, 0, 1, 0, 0, 0, 0},
		"length overrun": {0xfe, 0xfd, 4, 0, 0, 0, 0, 1, 0, 0, 0, 20, 1, 2},
		"block overrun":  {0xfe, 0xfd, 4, 0, 0, 0, 0, 1, 0, 0, 0, 6, 1, 2, 0, 40, 0, 0},
	} {
		if _, err := ParseDCP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

func TestParseDHCP(t *testing.T) {
	m, err := ParseDHCP(unhex(t, dhcpDiscoverMSFT))
	if err != nil {
		t.Fatal(err)
	}
	if m.Op != 1 || m.MsgType != DHCPDiscover || !m.HasMAC || m.ClientMAC != [6]byte{0xe4, 0x11, 0x5b, 0x5a, 0xd9, 0x73} ||
		m.Hostname != "LT-US-DSWANSON" || m.VendorClass != "MSFT 5.0" || m.ClientID != "01:e4:11:5b:5a:d9:73" ||
		m.ClientIP.IsValid() || m.YourIP.IsValid() || m.RequestedIP.IsValid() {
		t.Errorf("ParseDHCP (MSFT) = %+v", m)
	}
	m, err = ParseDHCP(unhex(t, dhcpDiscoverX208))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hostname != "siemens-x208-switch" || m.VendorClass != "" || m.MsgType != DHCPDiscover {
		t.Errorf("ParseDHCP (X208) = %+v", m)
	}
	good := unhex(t, dhcpDiscoverMSFT)
	noMagic := slices.Clone(good)
	noMagic[236] = 0
	overrun := slices.Clone(good[:240+3])
	overrun = append(overrun, 12, 200, 'x')
	for name, b := range map[string][]byte{
		"short": good[:100], "no magic": noMagic, "option overruns": overrun,
	} {
		if _, err := ParseDHCP(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
}

// Fuzz targets: no input may panic, and whatever parses must keep its
// strings within bounds and printable.

func checkText(t *testing.T, what, s string) {
	if len(s) > maxText {
		t.Fatalf("%s longer than %d: %d", what, maxText, len(s))
	}
	for _, c := range []byte(s) {
		if c < 0x20 || c >= 0x7f {
			t.Fatalf("%s holds byte %#x", what, c)
		}
	}
}

func FuzzLLDP(f *testing.F) {
	for _, s := range []string{lldpCiscoS2, lldpScalance, lldpS71200, lldpKTP700} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := ParseLLDP(b)
		if err != nil {
			return
		}
		checkText(t, "system name", l.SystemName)
		checkText(t, "system description", l.SystemDesc)
		if len(l.Management) > maxLLDPMgmt {
			t.Fatalf("%d management addresses", len(l.Management))
		}
		_ = ParseDescription(l.SystemDesc)
	})
}

func FuzzCDP(f *testing.F) {
	f.Add(unhex(f, cdpCiscoS1))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCDP(b)
		if err != nil {
			return
		}
		checkText(t, "device ID", c.DeviceID)
		checkText(t, "software", c.Software)
		if len(c.Addresses) > maxCDPAddress {
			t.Fatalf("%d addresses", len(c.Addresses))
		}
	})
}

func FuzzDCP(f *testing.F) {
	for _, s := range []string{dcpIdentifyRequest, dcpIdentifyResponse, dcpIdentifyResponseX208, dcpSetIP, dcpSetResponse} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseDCP(b)
		if err != nil {
			return
		}
		checkText(t, "name of station", d.NameOfStation)
		if len(d.Options) > maxDCPOptions {
			t.Fatalf("%d options", len(d.Options))
		}
	})
}

func FuzzDHCP(f *testing.F) {
	for _, s := range []string{dhcpDiscoverX208, dhcpDiscoverMSFT} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseDHCP(b)
		if err != nil {
			return
		}
		checkText(t, "hostname", m.Hostname)
		checkText(t, "vendor class", m.VendorClass)
	})
}

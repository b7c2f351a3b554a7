package otaudit

import (
	"net/netip"
	"time"
)

// Asset is a device in the inventory, merged from every observation that
// mentions its address.
type Asset struct {
	// Key identifies the asset across scans: "ip:<address>", or
	// "mac:<address>" for a device known only by what it announced on the
	// link (IP is then the zero Addr).
	Key  string     `json:"key"`
	IP   netip.Addr `json:"ip"`
	MACs []string   `json:"macs,omitempty"`
	// MACVendor is the OUI owner of the first MAC; Vendor is the best
	// identity the device gave (device identification beats OUI).
	MACVendor   string `json:"mac_vendor,omitempty"`
	Vendor      string `json:"vendor,omitempty"`
	Model       string `json:"model,omitempty"`
	ProductCode string `json:"product_code,omitempty"`
	Firmware    string `json:"firmware,omitempty"`
	Serial      string `json:"serial,omitempty"`
	Name        string `json:"name,omitempty"`
	// Role is the register's role (PLC, HMI, EWS, …) or, when the asset is
	// not registered, one inferred from what it serves.
	Role string `json:"role,omitempty"`
	// Services the asset answers for and Uses it is a client of.
	Services []Service `json:"services,omitempty"`
	Uses     []Service `json:"uses,omitempty"`
	// Zone is the zone the asset is in, empty when outside every CIDR of
	// the configured zone.
	Zone       string    `json:"zone,omitempty"`
	Registered bool      `json:"registered"`
	FirstSeen  time.Time `json:"first_seen"`
	LastSeen   time.Time `json:"last_seen"`
	Sources    []string  `json:"sources,omitempty"`
}

// Service is a protocol an asset speaks on a port.
type Service struct {
	Protocol  string    `json:"protocol"`
	Transport Transport `json:"transport"`
	Port      uint16    `json:"port"`
}

// AssetKey is the stable key of the asset at ip.
func AssetKey(ip netip.Addr) string { return "ip:" + ip.String() }

// MACAssetKey is the stable key of a device known only by its MAC
// (lower-case, colon-separated).
func MACAssetKey(mac string) string { return "mac:" + mac }

// Serves reports whether the asset answers for protocol.
func (a *Asset) Serves(protocol string) bool {
	for _, s := range a.Services {
		if s.Protocol == protocol {
			return true
		}
	}
	return false
}

// IsController reports whether the asset serves an industrial control
// protocol, which makes it a field device for the hardening checks.
func (a *Asset) IsController() bool {
	switch a.Role {
	case "PLC", "RTU", "IED", "controller", "drive", "io", "gateway":
		return true
	}
	for _, s := range a.Services {
		if IsControlProtocol(s.Protocol) {
			return true
		}
	}
	return false
}

// controlProtocols are industrial protocols that read or change a process.
var controlProtocols = map[string]bool{
	"modbus": true, "s7comm": true, "s7comm-plus": true, "enip": true, "cip": true,
	"dnp3": true, "iec104": true, "bacnet": true, "opcua": true, "profinet": true,
	"umas": true, "fins": true, "melsec": true, "codesys": true,
}

// IsControlProtocol reports whether protocol is an industrial control protocol.
func IsControlProtocol(protocol string) bool { return controlProtocols[protocol] }

// CleartextControlProtocols carry control without integrity protection.
var cleartextControl = map[string]bool{
	"modbus": true, "s7comm": true, "enip": true, "cip": true, "dnp3": true,
	"iec104": true, "bacnet": true,
}

// IsCleartextControlProtocol reports whether protocol carries control
// commands with no integrity protection of its own.
func IsCleartextControlProtocol(protocol string) bool { return cleartextControl[protocol] }

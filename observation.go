package otaudit

import (
	"net/netip"
	"time"
)

// ObservationKind says which of an Observation's detail fields is set.
type ObservationKind string

const (
	// KindHost: an address seen on the wire, with the MAC it used.
	KindHost ObservationKind = "host"
	// KindFlow: a conversation between a client and a server port,
	// aggregated over the source (one observation per client, server,
	// transport, port and application protocol).
	KindFlow ObservationKind = "flow"
	// KindOperation: an industrial protocol operation (a Modbus function
	// code, an S7 job, …) aggregated per client, server, unit and code.
	KindOperation ObservationKind = "operation"
	// KindCredential: a login or community string seen in clear.
	KindCredential ObservationKind = "credential"
	// KindRemoteSession: an interactive remote-access session.
	KindRemoteSession ObservationKind = "remote_session"
	// KindIdentity: what a device says about itself (vendor, model, firmware).
	KindIdentity ObservationKind = "identity"
	// KindSecureChannel: how a protocol session is secured (OPC UA
	// SecurityPolicy, TLS, SNMP version).
	KindSecureChannel ObservationKind = "secure_channel"
	// KindNameLookup: a host asked a DNS server for a name that says
	// something about it (the rendezvous or relay server of a
	// remote-control tool), aggregated per host, server and name.
	KindNameLookup ObservationKind = "name_lookup"
)

// Observation is one fact a collector saw. Collectors aggregate before they
// emit: an observation stands for everything of its kind between FirstSeen
// and LastSeen, never for a single packet. Count is the number of packets
// (hosts, flows, remote sessions) or of protocol messages (operations,
// credentials, secure-channel handshakes) behind it; a RemoteSession
// observation is always one session.
type Observation struct {
	Kind ObservationKind `json:"kind"`
	// Source names the collector and its input, e.g. "pcap:plant.pcap".
	Source    string    `json:"source"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Count     int64     `json:"count,omitempty"`
	// FirstFrame is the 1-based index, in the source capture, of the first
	// packet that produced this observation (0 for active collectors).
	FirstFrame int64 `json:"first_frame,omitempty"`

	Host          *HostSighting   `json:"host,omitempty"`
	Flow          *Flow           `json:"flow,omitempty"`
	Operation     *Operation      `json:"operation,omitempty"`
	Credential    *Credential     `json:"credential,omitempty"`
	RemoteSession *RemoteSession  `json:"remote_session,omitempty"`
	Identity      *DeviceIdentity `json:"identity,omitempty"`
	SecureChannel *SecureChannel  `json:"secure_channel,omitempty"`
	NameLookup    *NameLookup     `json:"name_lookup,omitempty"`
	SNMPAccess    *SNMPAccess     `json:"snmp_access,omitempty"`
	Endpoint      *Endpoint       `json:"endpoint,omitempty"`
	LoginProbe    *LoginProbe     `json:"login_probe,omitempty"`
}

// HostSighting is an address seen as the source of traffic.
type HostSighting struct {
	IP  netip.Addr `json:"ip"`
	MAC string     `json:"mac,omitempty"` // lower-case, colon-separated
	// MACVendor is the OUI registry owner of MAC, if known.
	MACVendor string `json:"mac_vendor,omitempty"`
	VLAN      uint16 `json:"vlan,omitempty"`
	Packets   int64  `json:"packets"`
	Bytes     int64  `json:"bytes"`
}

// Transport is the layer-4 protocol of a flow.
type Transport string

const (
	TCP Transport = "tcp"
	UDP Transport = "udp"
)

// Flow is a conversation from Client to the service at Server:ServerPort.
type Flow struct {
	Client     netip.Addr `json:"client"`
	Server     netip.Addr `json:"server"`
	Transport  Transport  `json:"transport"`
	ServerPort uint16     `json:"server_port"`
	// Protocol is the application protocol, by payload where a decoder
	// recognised it, else by the well-known port ("modbus", "s7comm",
	// "telnet", …); empty when unknown.
	Protocol string `json:"protocol,omitempty"`
	// ServerAnswered is true when the server sent anything back, so the
	// service is known to run rather than merely be asked for.
	ServerAnswered bool  `json:"server_answered"`
	Connections    int64 `json:"connections,omitempty"`
	Packets        int64 `json:"packets"`
	BytesToServer  int64 `json:"bytes_to_server"`
	BytesToClient  int64 `json:"bytes_to_client"`
}

// OperationClass groups protocol function codes by what they do to a device.
type OperationClass string

const (
	OpRead            OperationClass = "read"
	OpWrite           OperationClass = "write"
	OpDiagnostic      OperationClass = "diagnostic"
	OpIdentify        OperationClass = "identify"
	OpProgramDownload OperationClass = "program_download"
	OpProgramUpload   OperationClass = "program_upload"
	OpModeChange      OperationClass = "mode_change"
	OpRestart         OperationClass = "restart"
	OpFile            OperationClass = "file"
	OpOther           OperationClass = "other"
)

// Operation is an industrial-protocol request from Client to Server,
// aggregated per unit and function code.
type Operation struct {
	Protocol string     `json:"protocol"`
	Client   netip.Addr `json:"client"`
	Server   netip.Addr `json:"server"`
	// Unit is the Modbus unit ID, DNP3 destination address or similar.
	Unit     int            `json:"unit"`
	Function int            `json:"function"`
	Name     string         `json:"name"`
	Class    OperationClass `json:"class"`
	// Requests counts requests; Responses and Exceptions count answers.
	Requests   int64 `json:"requests"`
	Responses  int64 `json:"responses"`
	Exceptions int64 `json:"exceptions"`
}

// Credential is a login (or community string) seen in clear on the wire.
// The secret itself is never kept: only a keyed fingerprint, so that reuse
// can be spotted, and whether it is a known vendor default.
type Credential struct {
	Protocol string     `json:"protocol"`
	Client   netip.Addr `json:"client"`
	Server   netip.Addr `json:"server"`
	User     string     `json:"user,omitempty"`
	// Fingerprint is an HMAC of the secret under the store's own key.
	Fingerprint string `json:"fingerprint,omitempty"`
	// KnownDefault: the secret matches the embedded default list.
	KnownDefault bool `json:"known_default"`
	// Outcome is "success", "failure" or "" when the answer was not seen.
	Outcome string `json:"outcome,omitempty"`
	// Detail is protocol specific (e.g. the SNMP version).
	Detail string `json:"detail,omitempty"`
}

// RemoteSession is an interactive remote-access session.
type RemoteSession struct {
	Protocol      string     `json:"protocol"` // rdp, vnc, ssh, telnet, teamviewer, anydesk, …
	Client        netip.Addr `json:"client"`
	Server        netip.Addr `json:"server"`
	ServerPort    uint16     `json:"server_port"`
	Start         time.Time  `json:"start"`
	End           time.Time  `json:"end"`
	BytesToServer int64      `json:"bytes_to_server"`
	BytesToClient int64      `json:"bytes_to_client"`
	// OpenAtEnd: no close was seen before the capture ended.
	OpenAtEnd bool `json:"open_at_end"`
	// Encrypted is false for Telnet, VNC without TLS and similar.
	Encrypted bool `json:"encrypted"`
	// Detail carries e.g. the RDP cookie user or the SSH software banner.
	Detail string `json:"detail,omitempty"`
}

// Duration of the session as seen.
func (r RemoteSession) Duration() time.Duration { return r.End.Sub(r.Start) }

// NameLookup is a DNS question for a name of interest and what the server
// answered.
type NameLookup struct {
	Client netip.Addr `json:"client"`
	Server netip.Addr `json:"server"` // the DNS server asked
	Name   string     `json:"name"`
	// Tool is the remote-control tool or tunnelling service whose domain
	// the name is in (IsRemoteTool).
	Tool string `json:"tool"`
	// Answers are the addresses answered (A and AAAA), when the capture
	// holds the response; at most a few.
	Answers []netip.Addr `json:"answers,omitempty"`
}

// remoteTools are the third-party remote-control tools and tunnelling
// services a collector names as a flow's or session's protocol: the
// passive collector tells them by port, certificate or TLS server name,
// and the checks judge them (reference check #27).
var remoteTools = map[string]bool{
	"teamviewer": true, "anydesk": true, "splashtop": true, "screenconnect": true,
	"logmein": true, "rustdesk": true, "chrome-remote-desktop": true,
	"ngrok": true, "cloudflare-tunnel": true,
}

// IsRemoteTool says protocol names a third-party remote-control tool or
// tunnelling service.
func IsRemoteTool(protocol string) bool { return remoteTools[protocol] }

// DeviceIdentity is what a device reports about itself.
type DeviceIdentity struct {
	IP          netip.Addr `json:"ip"`
	Method      string     `json:"method"` // "modbus-fc43", "snmp-sysdescr", …
	Vendor      string     `json:"vendor,omitempty"`
	ProductCode string     `json:"product_code,omitempty"`
	Model       string     `json:"model,omitempty"`
	Name        string     `json:"name,omitempty"`
	Firmware    string     `json:"firmware,omitempty"`
	Serial      string     `json:"serial,omitempty"`
	// MAC is the announcing device's own MAC, for an identity heard on the
	// link (LLDP, CDP, PROFINET DCP) from a device whose IP address the
	// capture never showed; IP is then the zero Addr.
	MAC string `json:"mac,omitempty"`
}

// SecureChannel records how a protocol session between Client and Server
// is protected.
type SecureChannel struct {
	Protocol string     `json:"protocol"`
	Client   netip.Addr `json:"client"`
	Server   netip.Addr `json:"server"`
	// Policy is e.g. the OPC UA SecurityPolicyUri, the SNMP version, or
	// the TLS version and cipher suite ("TLS 1.2 TLS_ECDHE_RSA_WITH_…").
	Policy   string `json:"policy"`
	Endpoint string `json:"endpoint,omitempty"`
	// Protected is false when the traffic is neither signed nor encrypted.
	Protected bool `json:"protected"`
	// ServerCertificate is the certificate the server signed the channel
	// with, when the capture showed it (an OPC UA OpenSecureChannel
	// response under a policy other than None, a TLS 1.0–1.2 server's
	// Certificate message); the latest one seen.
	ServerCertificate *Certificate `json:"server_certificate,omitempty"`
}

// Package pcap is the passive collector: it reads a pcap or pcapng capture
// and turns it into aggregated otaudit.Observations (hosts, flows,
// industrial operations, device identities, cleartext credentials, secure
// channel policies, DNS lookups of remote tools and remote-access sessions).
//
// Layout: capture.go reads the file format, packet.go decodes layers 2–4
// with a preallocated gopacket DecodingLayerParser, conn.go tracks TCP/UDP
// conversations and their bounded per-direction byte streams, and each
// application protocol is one file implementing streamDissector or
// datagramDissector (modbus.go, telnet.go, ftp.go, http.go, snmp.go,
// opcua.go, tls.go, remote.go, …), wired in the explicit tables of
// dissectors.go. Adding a protocol is one more file plus one line there.
//
// What must not live here: judging what an observation means (that is the
// checks' job), storage, and any captured secret in clear — secrets go
// through otaudit.CredentialJudge the moment they are recovered and only the
// fingerprint is kept.
package pcap

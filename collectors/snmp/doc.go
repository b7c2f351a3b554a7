// Package snmp is the active SNMP collector: which communities (v1, v2c)
// and USM users (v3) a device accepts, what it says about itself (system
// group, interfaces, ENTITY-MIB), whether an accepted community or user
// can write (inferred from the readable VACM tables, never tested), and
// the v3 engine identity that an unauthenticated discovery reveals.
//
// Read-only is enforced twice: every request goes through active.Session
// (kinds "get", "getnext", "getbulk"), and gosnmp writes through guardConn,
// which decodes each outgoing BER message (decrypting v3 privacy with the
// session's own key) and refuses anything but GetRequest, GetNextRequest
// and GetBulkRequest before a byte is written. There is no Set in this
// package and none may be added.
//
// Communities and passwords never leave this package in clear: they go to
// the wire and to otaudit.CredentialJudge, which keeps a fingerprint and
// whether the value is a known default. Plans, ledgers and logs name a
// community by its position in the configured or embedded list only.
//
// What must not live here: scheduling and rate limits (collectors/active),
// passive SNMP decoding (collectors/pcap), judging the answers (checks).
package snmp

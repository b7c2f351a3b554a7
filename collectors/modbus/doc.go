// Package modbus is the active Modbus/TCP collector: it asks a device who it
// is (FC 43 / MEI 14 Read Device Identification, FC 17 Report Server ID as a
// fallback), which unit IDs answer, and whether one holding register can be
// read without authentication, and turns the answers into observations.
//
// Everything here is read-only by construction: the only bytes that ever
// leave are FC 43/14, FC 17 and FC 3 for a single register, checked on the
// encoded ADU right before it is sent (see readOnlyADU), and every request
// goes through the active.Session that rate-limits and records it. No write
// function code exists in this package, and none may be added.
//
// What must not live here: scheduling, rate limits, target expansion
// (collectors/active), passive Modbus decoding (collectors/pcap), or any
// judgement of what the answers mean (checks).
package modbus

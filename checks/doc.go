// Package checks holds the IEC 62443 check catalog and turns observations
// into findings, check results and zone scores.
//
// The catalog is data (configs/checks.yaml, embedded): every check's title,
// objective, standard references, base severity, modifiers, roles,
// remediation and the collectors it needs, plus the 62443-3-3 SR/RE table.
// The Go side is a set of small pure evaluators, one file per group named
// after its objective (ac_*.go, am_*.go, dc_*.go, im_*.go, si_*.go),
// registered in one explicit table in registry.go and keyed by check ID.
// score.go turns results into objective scores and SL-A intervals, verdict.go
// into the commissioning verdict, drift.go compares a zone with its baseline.
//
// Evaluate and Score are pure and deterministic: no I/O, no clock (the
// caller passes the time), no logging, no randomness. What must not live here: collection (collectors
// emit the observations), persistence (store), and anything that reaches a
// device. Findings never carry a secret: a credential is described by its
// user, its keyed fingerprint and whether it is a known default.
package checks

// Package otaudit holds the vocabulary shared by every part of the OT audit
// agent: assets, observations, findings, scans, zones, severities, objectives
// and the IEC 62443 references that tie a finding to a requirement.
//
// The types here are plain data. Nothing in this package does I/O, and it
// imports no other package of the module: collectors emit Observations, the
// checks turn them into Findings, the store keeps both, and the agent wires
// them together. Data flows one way: cmd → agent → collectors, checks, store
// → otaudit.
package otaudit

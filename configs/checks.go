package configs

import _ "embed"

// ChecksYAML is the IEC 62443 check catalog (versioned YAML): every check's
// title, objective, 62443-3-3 / 2-1 / 4-2, ISO 27001 and ATT&CK references,
// base severity, modifiers, roles, remediation and the collectors it needs,
// plus the 62443-3-3 SR/RE security-level table that scoring uses. Package
// checks parses and validates it; nothing else should read it directly.
//
//go:embed checks.yaml
var ChecksYAML []byte

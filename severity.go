package otaudit

import (
	"fmt"
	"strings"
)

// Severity ranks a finding. The zero value is Info so that an unset severity
// never outranks a real one.
type Severity int

const (
	SeverityInfo Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < SeverityInfo || s > SeverityCritical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// Raise returns the severity n steps higher, capped at critical. The
// catalog's modifiers (boundary crossing, critical target) use it.
func (s Severity) Raise(n int) Severity {
	r := s + Severity(n)
	if r > SeverityCritical {
		return SeverityCritical
	}
	return r
}

// Weight is the scoring weight of §4.5 of the reference catalog:
// critical 10, high 5, medium 2, low 1, info 0.
func (s Severity) Weight() int {
	switch s {
	case SeverityCritical:
		return 10
	case SeverityHigh:
		return 5
	case SeverityMedium:
		return 2
	case SeverityLow:
		return 1
	}
	return 0
}

// ParseSeverity accepts the names printed by String, case-insensitively.
func ParseSeverity(name string) (Severity, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	for i, known := range severityNames {
		if n == known {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want one of %s)", name, strings.Join(severityNames[:], ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

package configs

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Problem is one thing wrong with a configuration, located precisely enough
// for an operator to jump to it: the file (the zone YAML, or the register CSV
// it names), the 1-based line and column (0 when unknown), and the field path
// such as "zone.cidrs[1]" (empty for a syntax error).
type Problem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// String renders the problem the way compilers do, so editors can follow it:
// `zone.yaml:12:5: zone.cidrs[1]: invalid CIDR "10.0.0.0/33"`.
func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.location())
	b.WriteString(": ")
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// location is the "file:line:column" prefix, leaving out what is unknown.
func (p Problem) location() string {
	switch {
	case p.Line <= 0:
		return p.File
	case p.Column <= 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Column)
}

// ConfigError carries every problem found in a configuration. Callers that
// map errors to exit codes or show them in a UI test for it with errors.As.
type ConfigError struct {
	Problems []Problem
}

// Error prints every problem, one per line.
func (e *ConfigError) Error() string {
	if len(e.Problems) == 0 {
		return "invalid configuration"
	}
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// position is where a value was written, kept so that problems found after
// the walk (duplicates, a register CSV that went missing) can still point at
// the line that caused them.
type position struct {
	file         string
	line, column int
}

func (p position) String() string {
	return Problem{File: p.file, Line: p.line, Column: p.column}.location()
}

// sortProblems orders problems by file (in order of first mention, so the
// zone file comes before the register it names), then line and column: the
// order an operator reads the files in, whatever order the checks ran in.
func sortProblems(problems []Problem) {
	rank := map[string]int{}
	for _, p := range problems {
		if _, ok := rank[p.File]; !ok {
			rank[p.File] = len(rank)
		}
	}
	slices.SortStableFunc(problems, func(a, b Problem) int {
		return cmp.Or(
			cmp.Compare(rank[a.File], rank[b.File]),
			cmp.Compare(a.Line, b.Line),
			cmp.Compare(a.Column, b.Column),
		)
	})
}

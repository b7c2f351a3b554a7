package configs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ScheduleConfig says when the agent scans on its own: every Interval, or at
// the times Cron names (at most one of the two; neither means only on
// demand), and the maintenance windows the plant has agreed to.
type ScheduleConfig struct {
	Interval time.Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// Cron is a standard 5-field expression (minute hour day-of-month month
	// day-of-week), checked for shape and ranges; the agent interprets it.
	Cron               string              `json:"cron,omitempty" yaml:"cron,omitempty"`
	MaintenanceWindows []MaintenanceWindow `json:"maintenance_windows,omitempty" yaml:"maintenance_windows,omitempty"`
}

// MaintenanceWindow is a weekly period agreed with operations. Days are the
// days it starts on (none = every day). A window whose End is not after its
// Start runs past midnight into the next day.
type MaintenanceWindow struct {
	Days  []time.Weekday `json:"days,omitempty" yaml:"days,omitempty"`
	Start TimeOfDay      `json:"start" yaml:"start"`
	End   TimeOfDay      `json:"end" yaml:"end"`
}

// Contains reports whether t, in its own location, falls in the window.
func (w MaintenanceWindow) Contains(t time.Time) bool {
	m := TimeOfDay(t.Hour()*60 + t.Minute())
	onDay := func(day time.Weekday) bool {
		if len(w.Days) == 0 {
			return true
		}
		for _, d := range w.Days {
			if d == day {
				return true
			}
		}
		return false
	}
	if w.Start < w.End {
		return onDay(t.Weekday()) && m >= w.Start && m < w.End
	}
	// Overnight: the evening part belongs to today's window, the morning
	// part to the one that started yesterday.
	return (onDay(t.Weekday()) && m >= w.Start) || (onDay((t.Weekday()+6)%7) && m < w.End)
}

// TimeOfDay is minutes since midnight, 0–1440 (1440 only as an end, "24:00").
type TimeOfDay int

func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", int(t)/60, int(t)%60) }

// MarshalText writes "HH:MM".
func (t TimeOfDay) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// parseTimeOfDay parses "HH:MM" (24-hour clock); "24:00" only when allowEnd.
func parseTimeOfDay(s string, allowEnd bool) (TimeOfDay, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	hour, herr := strconv.Atoi(h)
	minute, merr := strconv.Atoi(m)
	if !ok || herr != nil || merr != nil || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return 0, fmt.Errorf("invalid time %q: want HH:MM on a 24-hour clock", s)
	}
	if allowEnd && hour == 24 && minute == 0 {
		return 24 * 60, nil
	}
	if hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return 0, fmt.Errorf("invalid time %q: want 00:00 to 23:59", s)
	}
	return TimeOfDay(hour*60 + minute), nil
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

func (d *configDecoder) schedule(n *yaml.Node, field string, s *ScheduleConfig) {
	seen := d.mapping(n, field, map[string]fieldHandler{
		"interval": func(n *yaml.Node, f string) {
			if v, ok := d.positiveDuration(n, f); ok {
				s.Interval = v
			}
		},
		"cron": func(n *yaml.Node, f string) {
			expr := d.str(n, f)
			if err := checkCron(expr); err != nil {
				d.problemAt(d.resolve(n, f), f, "%v", err)
				return
			}
			s.Cron = strings.Join(strings.Fields(expr), " ")
		},
		"maintenance_windows": func(n *yaml.Node, f string) {
			d.sequence(n, f, func(e *yaml.Node, ef string) {
				if w, ok := d.maintenanceWindow(e, ef); ok {
					s.MaintenanceWindows = append(s.MaintenanceWindows, w)
				}
			})
		},
	})
	if seen != nil && seen["interval"] != nil && seen["cron"] != nil {
		d.problemAt(seen["cron"], joinField(field, "cron"), "set either interval or cron, not both")
	}
}

func (d *configDecoder) maintenanceWindow(n *yaml.Node, field string) (MaintenanceWindow, bool) {
	before := len(d.problems)
	entry := d.resolve(n, field)
	var w MaintenanceWindow
	clock := func(n *yaml.Node, f string, dst *TimeOfDay, allowEnd bool) {
		s, ok := d.scalar(n, f, "a time HH:MM")
		if !ok {
			return
		}
		v, err := parseTimeOfDay(s.Value, allowEnd)
		if err != nil {
			d.problemAt(s, f, "%v", err)
			return
		}
		*dst = v
	}
	seen := d.mapping(entry, field, map[string]fieldHandler{
		"days": func(n *yaml.Node, f string) {
			d.sequence(n, f, func(e *yaml.Node, ef string) {
				s, ok := d.scalar(e, ef, "a day name")
				if !ok {
					return
				}
				day, known := weekdays[strings.ToLower(strings.TrimSpace(s.Value))]
				if !known {
					d.problemAt(s, ef, "unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", s.Value)
					return
				}
				for _, prev := range w.Days {
					if prev == day {
						d.problemAt(s, ef, "%s listed twice", day)
						return
					}
				}
				w.Days = append(w.Days, day)
			})
		},
		"start": func(n *yaml.Node, f string) { clock(n, f, &w.Start, false) },
		"end":   func(n *yaml.Node, f string) { clock(n, f, &w.End, true) },
	})
	if seen == nil {
		return w, false
	}
	for _, k := range []string{"start", "end"} {
		if seen[k] == nil {
			d.problemAt(entry, joinField(field, k), "required")
		}
	}
	if len(d.problems) == before && w.Start == w.End {
		d.problemAt(seen["end"], joinField(field, "end"), "window is empty: end equals start")
	}
	return w, len(d.problems) == before
}

// cronField describes one field of a 5-field cron expression.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	// 7 is Sunday too, as in Vixie cron.
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// checkCron validates the shape of a 5-field cron expression: lists,
// ranges, steps, names, and values within each field's range. Macros such
// as @daily and 6-field (seconds) forms are refused so that every scheduler
// the agent might use reads it the same way.
func checkCron(expr string) error {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("cron %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", expr, len(fields))
	}
	for i, text := range fields {
		if err := cronFields[i].check(text); err != nil {
			return fmt.Errorf("cron %q: %s field %q: %w", expr, cronFields[i].name, text, err)
		}
	}
	return nil
}

func (cf cronField) check(text string) error {
	for _, item := range strings.Split(text, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 || n > cf.max {
				return fmt.Errorf("invalid step %q", step)
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := cf.value(lo)
		if err != nil {
			return err
		}
		if !isRange {
			continue
		}
		b, err := cf.value(hi)
		if err != nil {
			return err
		}
		if b < a {
			return fmt.Errorf("range %s is backwards", rng)
		}
	}
	return nil
}

func (cf cronField) value(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty value")
	}
	for i, name := range cf.names {
		if strings.EqualFold(s, name) {
			return cf.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("invalid value %q", s)
	}
	if v < cf.min || v > cf.max {
		return 0, fmt.Errorf("%d out of range %d-%d", v, cf.min, cf.max)
	}
	return v, nil
}

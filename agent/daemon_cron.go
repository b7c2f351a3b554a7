package agent

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// cronSchedule is a parsed 5-field cron expression (minute hour
// day-of-month month day-of-week) with lists, ranges, steps and the month
// and day names configs.checkCron accepts; 7 is Sunday as well as 0. As in
// Vixie cron, when both day fields are restricted a day matches if either
// does. Times are read in UTC, like the zone's maintenance windows.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64 // bit i set: value i matches
	domStar, dowStar              bool
}

type cronSpec struct {
	name     string
	min, max int
	names    []string // names[i] stands for min+i
}

var cronSpecs = [5]cronSpec{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day of week", min: 0, max: 7, names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// parseCron parses expr. The configuration loader already checked its
// shape; parsing again here keeps the agent correct for any caller.
func parseCron(expr string) (*cronSchedule, error) {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return nil, fmt.Errorf("cron %q has %d fields, want 5 (minute hour day-of-month month day-of-week)", expr, len(fields))
	}
	var sets [5]uint64
	for i, text := range fields {
		set, err := cronSpecs[i].parse(text)
		if err != nil {
			return nil, fmt.Errorf("cron %q: %s field %q: %w", expr, cronSpecs[i].name, text, err)
		}
		sets[i] = set
	}
	c := &cronSchedule{minute: sets[0], hour: sets[1], dom: sets[2], month: sets[3], dow: sets[4],
		domStar: strings.HasPrefix(fields[2], "*"), dowStar: strings.HasPrefix(fields[4], "*")}
	if c.dow&(1<<7) != 0 {
		c.dow |= 1 // 7 is Sunday
	}
	return c, nil
}

func (cs cronSpec) parse(text string) (uint64, error) {
	var set uint64
	for _, item := range strings.Split(text, ",") {
		rng, stepText, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepText)
			if err != nil || n < 1 || n > cs.max {
				return 0, fmt.Errorf("invalid step %q", stepText)
			}
			step = n
		}
		lo, hi := cs.min, cs.max
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = cs.value(a); err != nil {
				return 0, err
			}
			hi = lo
			if isRange {
				if hi, err = cs.value(b); err != nil {
					return 0, err
				}
				if hi < lo {
					return 0, fmt.Errorf("range %s is backwards", rng)
				}
			} else if hasStep {
				// "5/15" means from 5 to the end in steps of 15.
				hi = cs.max
			}
		}
		for v := lo; v <= hi; v += step {
			set |= 1 << uint(v)
		}
	}
	return set, nil
}

func (cs cronSpec) value(s string) (int, error) {
	for i, name := range cs.names {
		if strings.EqualFold(s, name) {
			return cs.min + i, nil
		}
	}
	v, err := strconv.Atoi(s)
	if err != nil || s == "" || s[0] == '+' || s[0] == '-' {
		return 0, fmt.Errorf("invalid value %q", s)
	}
	if v < cs.min || v > cs.max {
		return 0, fmt.Errorf("%d out of range %d-%d", v, cs.min, cs.max)
	}
	return v, nil
}

// dayMatches follows Vixie cron: when either day field starts with "*"
// both must match (a "*" field matches every day, "*/2" every other);
// when both are restricted, either may.
func (c *cronSchedule) dayMatches(t time.Time) bool {
	dom := c.dom&(1<<uint(t.Day())) != 0
	dow := c.dow&(1<<uint(t.Weekday())) != 0
	if c.domStar || c.dowStar {
		return dom && dow
	}
	return dom || dow
}

// Next returns the first minute strictly after t that the expression
// names, in UTC, or the zero time when there is none within five years
// (such as "0 0 30 2 *": February never has a 30th).
func (c *cronSchedule) Next(t time.Time) time.Time {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	limit := t.AddDate(5, 0, 0)
	for t.Before(limit) {
		if c.month&(1<<uint(t.Month())) == 0 {
			t = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if !c.dayMatches(t) {
			t = time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, time.UTC)
			continue
		}
		if c.hour&(1<<uint(t.Hour())) == 0 {
			t = t.Truncate(time.Hour).Add(time.Hour)
			continue
		}
		if c.minute&(1<<uint(t.Minute())) == 0 {
			t = t.Add(time.Minute)
			continue
		}
		return t
	}
	return time.Time{}
}

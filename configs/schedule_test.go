package configs

import (
	"strings"
	"testing"
	"time"
)

func TestCheckCron(t *testing.T) {
	for _, c := range []struct {
		expr string
		err  string // "" = valid
	}{
		{"0 2 * * *", ""},
		{"*/15 * * * *", ""},
		{"0 2 1,15 * mon-fri", ""},
		{"30 4 * jan-mar 7", ""},
		{"0 0-6/2 * * SUN", ""},
		{"0 2 * *", "has 4 fields"},
		{"0 2 * * * *", "has 6 fields"},
		{"@daily", "has 1 fields"},
		{"60 * * * *", "minute field \"60\": 60 out of range 0-59"},
		{"0 24 * * *", "hour field"},
		{"0 0 0 * *", "day of month field \"0\": 0 out of range 1-31"},
		{"0 0 * 13 *", "month field"},
		{"0 0 * * 8", "day of week field"},
		{"0 6-2 * * *", "range 6-2 is backwards"},
		{"*/0 * * * *", "invalid step"},
		{"0 x * * *", `invalid value "x"`},
		{"0 1,,2 * * *", "empty value"},
		{"0 -1 * * *", "empty value"},
	} {
		err := checkCron(c.expr)
		switch {
		case c.err == "" && err != nil:
			t.Errorf("checkCron(%q) = %v, want valid", c.expr, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("checkCron(%q) = %v, want error containing %q", c.expr, err, c.err)
		}
	}
}

func TestParseTimeOfDay(t *testing.T) {
	for _, c := range []struct {
		in       string
		allowEnd bool
		want     TimeOfDay
		ok       bool
	}{
		{"02:00", false, 120, true},
		{"2:30", false, 150, true},
		{"23:59", false, 23*60 + 59, true},
		{"24:00", true, 24 * 60, true},
		{"24:00", false, 0, false},
		{"24:01", true, 0, false},
		{"12:60", false, 0, false},
		{"12", false, 0, false},
		{"12:5", false, 0, false},
		{"-1:00", false, 0, false},
	} {
		got, err := parseTimeOfDay(c.in, c.allowEnd)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("parseTimeOfDay(%q, %v) = %v, %v; want %v ok=%v", c.in, c.allowEnd, got, err, c.want, c.ok)
		}
	}
}

func TestMaintenanceWindowContains(t *testing.T) {
	// 2025-03-01 is a Saturday.
	at := func(day int, hhmm string) time.Time {
		tod, err := parseTimeOfDay(hhmm, false)
		if err != nil {
			t.Fatal(err)
		}
		return time.Date(2025, 3, day, int(tod)/60, int(tod)%60, 0, 0, time.UTC)
	}
	weekend := MaintenanceWindow{Days: []time.Weekday{time.Saturday, time.Sunday}, Start: 120, End: 360}
	overnight := MaintenanceWindow{Days: []time.Weekday{time.Friday}, Start: 22*60 + 30, End: 60}
	allDay := MaintenanceWindow{Start: 0, End: 24 * 60}
	for _, c := range []struct {
		name string
		w    MaintenanceWindow
		t    time.Time
		want bool
	}{
		{"weekend inside", weekend, at(1, "03:00"), true},
		{"weekend at start", weekend, at(2, "02:00"), true},
		{"weekend at end", weekend, at(1, "06:00"), false},
		{"weekend before", weekend, at(1, "01:59"), false},
		{"weekend on a Monday", weekend, at(3, "03:00"), false},
		{"overnight Friday evening", overnight, at(7, "23:00"), true},
		{"overnight Saturday morning", overnight, at(8, "00:30"), true},
		{"overnight Saturday evening", overnight, at(8, "23:00"), false},
		{"overnight Friday morning", overnight, at(7, "00:30"), false},
		{"all day", allDay, at(4, "13:13"), true},
	} {
		if got := c.w.Contains(c.t); got != c.want {
			t.Errorf("%s: Contains(%s) = %v, want %v", c.name, c.t.Format("Mon 15:04"), got, c.want)
		}
	}
}

func TestScheduleDecoding(t *testing.T) {
	cfg, err := Parse("s.yaml", []byte(zoneDocHead+"schedule:\n  interval: 24h\n  maintenance_windows:\n    - {days: [sat, Sunday], start: \"22:00\", end: \"24:00\"}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Schedule
	if s.Interval != 24*time.Hour || len(s.MaintenanceWindows) != 1 {
		t.Fatalf("schedule = %+v", s)
	}
	w := s.MaintenanceWindows[0]
	if len(w.Days) != 2 || w.Days[0] != time.Saturday || w.Days[1] != time.Sunday || w.Start.String() != "22:00" || w.End.String() != "24:00" {
		t.Errorf("window = %+v", w)
	}
}

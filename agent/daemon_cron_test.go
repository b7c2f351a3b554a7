package agent

import (
	"testing"
	"time"
)

func TestCronNext(t *testing.T) {
	// 2026-03-02 is a Monday.
	mon := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		expr string
		from time.Time
		want time.Time
	}{
		{"* * * * *", mon, mon.Add(time.Minute)},
		{"* * * * *", mon.Add(30 * time.Second), mon.Add(time.Minute)},
		{"0 2 * * *", mon, time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC)},
		{"*/15 * * * *", mon.Add(time.Minute), mon.Add(15 * time.Minute)},
		{"5/20 * * * *", mon, mon.Add(5 * time.Minute)},
		{"5/20 * * * *", mon.Add(50 * time.Minute), mon.Add(65 * time.Minute)},
		{"0 9-17/4 * * *", mon, mon.Add(time.Hour)},                                           // 09:00
		{"0 9-17/4 * * *", mon.Add(5 * time.Hour), mon.Add(9 * time.Hour)},                    // 13:00 → 17:00
		{"30 1,13 * * *", mon, mon.Add(5*time.Hour + 30*time.Minute)},                         // 13:30
		{"0 3 * * sat,sun", mon, time.Date(2026, 3, 7, 3, 0, 0, 0, time.UTC)},                 // Saturday
		{"0 3 * * 7", mon, time.Date(2026, 3, 8, 3, 0, 0, 0, time.UTC)},                       // 7 = Sunday
		{"0 3 * * MON-FRI", mon.Add(18 * time.Hour), mon.Add(19 * time.Hour)},                 // Tuesday 03:00
		{"0 0 1 jan *", mon, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},                     // names, next year
		{"0 0 29 2 *", mon, time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},                     // leap day
		{"0 0 13 * fri", mon, time.Date(2026, 3, 6, 0, 0, 0, 0, time.UTC)},                    // either day field (Friday 6th)
		{"0 0 2 * fri", mon.Add(-9 * time.Hour), time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, // the 2nd, a Monday
		{"0 0 */10 * *", mon, time.Date(2026, 3, 11, 0, 0, 0, 0, time.UTC)},                   // 1, 11, 21, 31
		{"0 0 */10 * mon", mon, time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)},                 // a star field: both must match
		{"59 23 31 12 *", mon, time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC)},
		{"0 0 30 2 *", mon, time.Time{}}, // never
	} {
		c, err := parseCron(tc.expr)
		if err != nil {
			t.Fatalf("%q: %v", tc.expr, err)
		}
		if got := c.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("%q after %s: %s, want %s", tc.expr, tc.from.Format(time.RFC3339), got.Format(time.RFC3339), tc.want.Format(time.RFC3339))
		}
	}
}

func TestCronNextIsInUTC(t *testing.T) {
	c, err := parseCron("0 2 * * *")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 3, 2, 23, 0, 0, 0, time.FixedZone("UTC+5", 5*3600)) // 18:00 UTC
	if got, want := c.Next(from), time.Date(2026, 3, 3, 2, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next 02:00 after %s: %s, want %s", from, got, want)
	}
}

func TestCronRefusesMalformed(t *testing.T) {
	for _, expr := range []string{
		"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *",
		"* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "-1 * * * *", "1,,2 * * * *", "@daily",
	} {
		if _, err := parseCron(expr); err == nil {
			t.Errorf("%q accepted", expr)
		}
	}
}

package workflow_test

import (
	"testing"
	"time"

	"tzportal/portal/workflow"
	"tzportal/workflows"
)

func calendar(t *testing.T) *workflow.Calendar {
	t.Helper()
	c, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func cst(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t.Add(-8 * time.Hour).UTC()
}

func TestWorkingDays(t *testing.T) {
	c := calendar(t)
	tests := []struct {
		name    string
		from    string
		d       workflow.Deadline
		lastDay string
	}{
		{"monday + 2 working days", "2026-11-30 10:00", workflow.Deadline{N: 2, Working: true}, "2026-12-02"},
		{"friday + 2 working days skips the weekend", "2026-12-04 16:00", workflow.Deadline{N: 2, Working: true}, "2026-12-08"},
		{"late evening counts by China date", "2026-11-30 23:30", workflow.Deadline{N: 1, Working: true}, "2026-12-01"},
		{"national day holiday and the makeup Saturday", "2026-09-30 09:00", workflow.Deadline{N: 2, Working: true}, "2026-10-09"},
		{"makeup Saturday 10-10 is a working day", "2026-10-09 09:00", workflow.Deadline{N: 1, Working: true}, "2026-10-10"},
		{"spring festival", "2026-02-13 09:00", workflow.Deadline{N: 2, Working: true}, "2026-02-24"},
		{"30 calendar days", "2026-11-30 10:00", workflow.Deadline{N: 30}, "2026-12-30"},
		{"15 working days", "2026-11-30 10:00", workflow.Deadline{N: 15, Working: true}, "2026-12-21"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			due := c.Due(cst(tc.from), tc.d)
			if got := c.LastDay(due).Format(time.DateOnly); got != tc.lastDay {
				t.Errorf("last day %s, want %s (due %s)", got, tc.lastDay, due)
			}
			if got := due.In(c.Zone).Format("15:04:05"); got != "00:00:00" {
				t.Errorf("due at %s, want the midnight ending the last day", got)
			}
		})
	}
}

func TestRemaining(t *testing.T) {
	c := calendar(t)
	due := c.Due(cst("2026-12-04 16:00"), workflow.Deadline{N: 2, Working: true}) // Friday → Tuesday 12-08
	for now, want := range map[string]int{
		"2026-12-04 17:00": 3, // Fri (today), Mon, Tue
		"2026-12-05 12:00": 2, // Saturday: Mon, Tue
		"2026-12-08 23:59": 1,
		"2026-12-09 00:00": 0,
		"2026-12-20 00:00": 0,
	} {
		if got := c.Remaining(cst(now), due, true); got != want {
			t.Errorf("at %s: %d working days left, want %d", now, got, want)
		}
	}
}

func TestCalendarRefusesBadData(t *testing.T) {
	for name, src := range map[string]string{
		"bad date":          "utc_offset_hours: 8\nholidays: [2026-02-30]\n",
		"holiday + workday": "utc_offset_hours: 8\nholidays: [2026-10-10]\nworkdays: [2026-10-10]\n",
		"unknown key":       "utc_offset_hours: 8\nholiday: [2026-10-01]\n",
	} {
		if _, err := workflow.ParseCalendar([]byte(src)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// TestAddMonths: a period of months ends on the corresponding day, or on
// the last day of a month that has none (民法典 art. 202).
func TestAddMonths(t *testing.T) {
	for _, tc := range []struct {
		name, from string
		n          int
		want       string
	}{
		{"a corresponding day", "2025-03-15", 6, "2025-09-15"},
		{"31 August + 6: February has no 31st", "2025-08-31", 6, "2026-02-28"},
		{"31 August + 6 before a leap year: 29 February", "2027-08-31", 6, "2028-02-29"},
		{"29 February + 12: 28 February", "2028-02-29", 12, "2029-02-28"},
		{"29 February + 48: 29 February again", "2028-02-29", 48, "2032-02-29"},
		{"31 January + 1 in a leap year", "2028-01-31", 1, "2028-02-29"},
		{"31 March + 1: 30 April", "2026-03-31", 1, "2026-04-30"},
		{"30 April + 1: 30 May, not the month's end", "2026-04-30", 1, "2026-05-30"},
		{"across the year", "2025-11-30", 3, "2026-02-28"},
		{"nothing added", "2026-01-31", 0, "2026-01-31"},
		{"backwards", "2026-03-31", -1, "2026-02-28"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := workflow.AddMonths(day(tc.from), tc.n).Format(time.DateOnly); got != tc.want {
				t.Errorf("%s + %d months = %s, want %s", tc.from, tc.n, got, tc.want)
			}
		})
	}
	// The clock and the zone are kept.
	from := time.Date(2025, 8, 31, 23, 30, 0, 0, time.FixedZone("CST", 8*3600))
	if got := workflow.AddMonths(from, 6); !got.Equal(time.Date(2026, 2, 28, 23, 30, 0, 0, from.Location())) {
		t.Errorf("with a clock: %s", got)
	}
}

// TestMonthsBetween counts as AddMonths does: n whole months on the day
// AddMonths(from, n) falls, not one day earlier.
func TestMonthsBetween(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		want           int
	}{
		{"the same day", "2026-01-31", "2026-01-31", 0},
		{"to before from", "2026-03-01", "2026-01-01", 0},
		{"a day short of a month", "2026-01-15", "2026-02-14", 0},
		{"a month on the corresponding day", "2026-01-15", "2026-02-15", 1},
		{"31 August: six months on 28 February", "2025-08-31", "2026-02-28", 6},
		{"31 August: five on 27 February", "2025-08-31", "2026-02-27", 5},
		{"31 August before a leap year: five on 28 February", "2027-08-31", "2028-02-28", 5},
		{"31 August before a leap year: six on 29 February", "2027-08-31", "2028-02-29", 6},
		{"29 February: a year on 28 February", "2028-02-29", "2029-02-28", 12},
		{"29 February: eleven months on 27 February", "2028-02-29", "2029-02-27", 11},
		{"31 January: a month on 28 February", "2026-01-31", "2026-02-28", 1},
		{"31 January: two on 31 March, not 28 March", "2026-01-31", "2026-03-28", 1},
		{"a calendar year", "2018-01-01", "2019-01-01", 12},
		{"years and months", "2019-07-10", "2026-11-30", 88},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from, to := day(tc.from), day(tc.to)
			got := workflow.MonthsBetween(from, to)
			if got != tc.want {
				t.Fatalf("%s to %s: %d months, want %d", tc.from, tc.to, got, tc.want)
			}
			// The same count as AddMonths: reached by to, not yet the day before.
			if got > 0 && workflow.AddMonths(from, got).After(to) {
				t.Errorf("AddMonths(%s, %d) is after %s", tc.from, got, tc.to)
			}
			if !workflow.AddMonths(from, got+1).After(to) {
				t.Errorf("AddMonths(%s, %d) is not after %s", tc.from, got+1, tc.to)
			}
		})
	}
	// Civil dates count, not clocks: 10:00 on the day is a whole month
	// after 23:00 on the corresponding day.
	cstZone := time.FixedZone("CST", 8*3600)
	if got := workflow.MonthsBetween(time.Date(2026, 1, 15, 23, 0, 0, 0, cstZone), time.Date(2026, 2, 15, 10, 0, 0, 0, cstZone)); got != 1 {
		t.Errorf("with clocks: %d months, want 1", got)
	}
}

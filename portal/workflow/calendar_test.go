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

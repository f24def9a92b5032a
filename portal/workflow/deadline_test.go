package workflow_test

import (
	"testing"
	"testing/fstest"
	"time"

	"tzportal/policies"
	"tzportal/portal/workflow"
)

// TestDeadlineBands checks the instants the deadline views query by against
// the definitions they stand for, over every day of a stretch with a
// holiday, makeup working days and weekends (September–October 2026), for
// due dates at each midnight: due soon is a countdown (Remaining, today
// included) of at most n working days; delayed is more than n working days
// past the last day (the n-th working day after it ended before today).
func TestDeadlineBands(t *testing.T) {
	c := calendar(t)
	start := cst("2026-09-20 00:00")
	for d := 0; d < 40; d++ {
		for _, clock := range []time.Duration{0, 10 * time.Hour, 23*time.Hour + 59*time.Minute} {
			now := start.AddDate(0, 0, d).Add(clock)
			for _, n := range []int{1, 3, 5} {
				until, cut := c.WithinUntil(now, n), c.LateCut(now, n)
				for k := -30; k <= 30; k++ {
					due := start.AddDate(0, 0, d+k) // a midnight: the end of a day
					soon := now.Before(due) && c.Remaining(now, due, true) <= n
					if got := due.After(now) && !due.After(until); got != soon {
						t.Errorf("now %v, due %v: soon(%d) = %t, want %t (remaining %d)", now, due, n, got, soon, c.Remaining(now, due, true))
					}
					// The n-th working day after the last day.
					day, count := c.LastDay(due), 0
					for count < n {
						day = day.AddDate(0, 0, 1)
						if c.IsWorkingDay(day) {
							count++
						}
					}
					delayed := day.Format(time.DateOnly) < now.In(c.Zone).Format(time.DateOnly)
					if got := !due.After(cut); got != delayed {
						t.Errorf("now %v, due %v: delayed(%d) = %t, want %t (n-th working day after: %v)", now, due, n, got, delayed, day)
					}
				}
			}
		}
	}
}

// TestClockPause: a clock stopped keeps the working days after the day it
// stopped, and restarted gives them back after the day it restarts; one
// stopped past its deadline is overdue when it restarts.
func TestClockPause(t *testing.T) {
	c := calendar(t)
	review := workflow.Deadline{N: 15, Working: true}
	accepted := cst("2026-11-30 10:00") // Monday
	due := c.Due(accepted, review)
	paused := cst("2026-12-02 15:00") // Wednesday: Tuesday and Wednesday used
	left := c.DaysLeft(paused, due, true)
	if left != 13 {
		t.Fatalf("left %d, want 13", left)
	}
	back := cst("2026-12-07 09:00")
	if got, want := c.Resume(back, left, true), c.Due(back, workflow.Deadline{N: 13, Working: true}); !got.Equal(want) {
		t.Errorf("resumed due %v, want %v", got, want)
	}
	if got := c.DaysLeft(due, due, true); got != -1 {
		t.Errorf("left at the deadline: %d, want -1", got)
	}
	if got := c.Resume(back, -1, true); got.After(back) {
		t.Errorf("a clock past its deadline resumes due %v, after now %v", got, back)
	}
	if got := c.DaysLeft(cst("2026-12-21 11:00"), due, true); got != 0 {
		t.Errorf("left on the last day: %d, want 0", got)
	}
	if got := c.Resume(back, 0, true); !got.Equal(cst("2026-12-08 00:00")) {
		t.Errorf("no day left resumes due %v, want the end of the day it restarts", got)
	}
}

// TestDeadlinePolicy: the shipped policy loads; a bad one is refused, naming
// every fault.
func TestDeadlinePolicy(t *testing.T) {
	roles := map[string]bool{"supervisor": true, "street_clerk": true}
	p, err := workflow.LoadDeadlinePolicy(policies.FS, roles)
	if err != nil {
		t.Fatal(err)
	}
	if p.SoonWorkingDays != 3 || p.LateWorkingDays != 5 || p.NotifyRole != "supervisor" {
		t.Errorf("policies/deadlines.yaml: %+v", p)
	}
	bad := fstest.MapFS{workflow.DeadlinesFile: {Data: []byte("soon_working_days: 0\nlate_working_days: 5\nnotify_role: boss\n")}}
	if _, err := workflow.LoadDeadlinePolicy(bad, roles); err == nil {
		t.Error("a zero band and an unknown role were accepted")
	}
	typo := fstest.MapFS{workflow.DeadlinesFile: {Data: []byte("soon_days: 3\nlate_working_days: 5\nnotify_role: supervisor\n")}}
	if _, err := workflow.LoadDeadlinePolicy(typo, roles); err == nil {
		t.Error("a misspelt key was accepted")
	}
}

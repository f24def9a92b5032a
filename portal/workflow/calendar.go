package workflow

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

// CalendarFile is the working-day calendar in workflows/.
const CalendarFile = "calendar.yaml"

// Calendar knows which days are working days: Monday to Friday, minus public
// holidays, plus the weekend days the State Council moves work to (调休).
// Days are civil days in the calendar's time zone (China Standard Time).
type Calendar struct {
	Zone *time.Location
	// base is the file's days; days is what counts now: the file's with
	// an administrator's changes over them (Apply), swapped whole so that
	// the many readers of a deadline never wait.
	base calendarDays
	days atomic.Pointer[calendarDays]
}

// calendarDays are the days off and the working weekend days (调休).
type calendarDays struct {
	holidays map[string]bool
	workdays map[string]bool
}

type calendarFile struct {
	UTCOffsetHours int      `yaml:"utc_offset_hours"`
	Holidays       []string `yaml:"holidays"`
	Workdays       []string `yaml:"workdays"`
}

// LoadCalendar reads and parses calendar.yaml from fsys (workflows.FS).
func LoadCalendar(fsys fs.FS) (*Calendar, error) {
	src, err := fs.ReadFile(fsys, CalendarFile)
	if err != nil {
		return nil, fmt.Errorf("workflows/%s: %w", CalendarFile, err)
	}
	return ParseCalendar(src)
}

// ParseCalendar reads calendar.yaml.
func ParseCalendar(src []byte) (*Calendar, error) {
	var f calendarFile
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("workflows/%s: %w", CalendarFile, err)
	}
	c := &Calendar{
		Zone: time.FixedZone(fmt.Sprintf("UTC%+d", f.UTCOffsetHours), f.UTCOffsetHours*3600),
		base: calendarDays{holidays: map[string]bool{}, workdays: map[string]bool{}},
	}
	for _, list := range []struct {
		days []string
		set  map[string]bool
		name string
	}{{f.Holidays, c.base.holidays, "holidays"}, {f.Workdays, c.base.workdays, "workdays"}} {
		for _, d := range list.days {
			if _, err := time.Parse(time.DateOnly, d); err != nil {
				return nil, fmt.Errorf("workflows/%s: %s: %q is not a YYYY-MM-DD date", CalendarFile, list.name, d)
			}
			list.set[d] = true
		}
	}
	for d := range c.base.holidays {
		if c.base.workdays[d] {
			return nil, fmt.Errorf("workflows/%s: %s is both a holiday and a workday", CalendarFile, d)
		}
	}
	c.days.Store(&c.base)
	return c, nil
}

// Kinds of day an administrator may set (portal.CalendarDay).
const (
	DayHoliday = "holiday" // a day off, whatever its weekday
	DayWorkday = "workday" // a working day, whatever its weekday (调休)
	DayNormal  = "normal"  // as its weekday says: takes the file's entry back
)

// Apply puts an administrator's days over the file's: each day's kind
// (holiday, workday or normal) replaces what the file says of it.
func (c *Calendar) Apply(days map[string]string) {
	d := &calendarDays{holidays: maps.Clone(c.base.holidays), workdays: maps.Clone(c.base.workdays)}
	for day, kind := range days {
		delete(d.holidays, day)
		delete(d.workdays, day)
		switch kind {
		case DayHoliday:
			d.holidays[day] = true
		case DayWorkday:
			d.workdays[day] = true
		}
	}
	c.days.Store(d)
}

// Kind is what the calendar says of a day (YYYY-MM-DD): holiday, workday
// (a weekend day made a working day) or normal.
func (c *Calendar) Kind(day string) string {
	d := c.days.Load()
	switch {
	case d.holidays[day]:
		return DayHoliday
	case d.workdays[day]:
		return DayWorkday
	}
	return DayNormal
}

// FileKind is what workflows/calendar.yaml says of a day.
func (c *Calendar) FileKind(day string) string {
	switch {
	case c.base.holidays[day]:
		return DayHoliday
	case c.base.workdays[day]:
		return DayWorkday
	}
	return DayNormal
}

// Year returns the holidays and the working weekend days of a year, in
// date order.
func (c *Calendar) Year(year int) (holidays, workdays []string) {
	d := c.days.Load()
	prefix := fmt.Sprintf("%04d-", year)
	for day := range d.holidays {
		if strings.HasPrefix(day, prefix) {
			holidays = append(holidays, day)
		}
	}
	for day := range d.workdays {
		if strings.HasPrefix(day, prefix) {
			workdays = append(workdays, day)
		}
	}
	slices.Sort(holidays)
	slices.Sort(workdays)
	return holidays, workdays
}

// IsWorkingDay reports whether the civil day of t (in the calendar's zone) is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	t = t.In(c.Zone)
	key := t.Format(time.DateOnly)
	d := c.days.Load()
	if d.workdays[key] {
		return true
	}
	if d.holidays[key] {
		return false
	}
	wd := t.Weekday()
	return wd != time.Saturday && wd != time.Sunday
}

// startOfDay returns midnight of t's civil day.
func (c *Calendar) startOfDay(t time.Time) time.Time {
	t = t.In(c.Zone)
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, c.Zone)
}

// Due returns the deadline for a time limit starting at from: the end of the
// N-th day (or working day) after from's day. The day itself does not count,
// as the Administrative Licensing Law counts periods. The result is the
// midnight that ends that day.
func (c *Calendar) Due(from time.Time, d Deadline) time.Time {
	day := c.startOfDay(from)
	if !d.Working {
		return day.AddDate(0, 0, d.N+1)
	}
	for n := 0; n < d.N; {
		day = day.AddDate(0, 0, 1)
		if c.IsWorkingDay(day) {
			n++
		}
	}
	return day.AddDate(0, 0, 1)
}

// LastDay returns the civil date of the last day before due (the day a
// person is told "by").
func (c *Calendar) LastDay(due time.Time) time.Time {
	return c.startOfDay(due.Add(-time.Nanosecond))
}

// Remaining counts the days (working days if working) from now's day up to
// and including the last day before due; 0 when due has passed.
func (c *Calendar) Remaining(now, due time.Time, working bool) int {
	if !now.Before(due) {
		return 0
	}
	n := 0
	for day := c.startOfDay(now); day.Before(due); day = day.AddDate(0, 0, 1) {
		if !working || c.IsWorkingDay(day) {
			n++
		}
	}
	return n
}

// AddMonths adds n calendar months the way periods are counted in law
// (民法典 art. 202): the period ends on the corresponding day of the target
// month, or on its last day when it has none — 31 August + 6 months is 28
// (or 29) February, not 3 March as time.AddDate would say. The clock and
// location of t are kept.
func AddMonths(t time.Time, n int) time.Time {
	first := time.Date(t.Year(), t.Month()+time.Month(n), 1, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), t.Location())
	last := first.AddDate(0, 1, -1).Day()
	return first.AddDate(0, 0, min(t.Day(), last)-1)
}

// MonthsBetween is the number of whole months from the day of from to the
// day of to, counted as AddMonths counts them: the largest n for which
// AddMonths(from, n) falls on or before to's day (0 if none). Living somewhere
// since 31 August, one has six months on 28 February. Only the civil dates
// count (each in its own location), never the clocks.
func MonthsBetween(from, to time.Time) int {
	fy, fm, fd := from.Date()
	ty, tm, td := to.Date()
	start := time.Date(fy, fm, fd, 0, 0, 0, 0, time.UTC)
	end := time.Date(ty, tm, td, 0, 0, 0, 0, time.UTC)
	n := (ty-fy)*12 + int(tm) - int(fm)
	if n > 0 && AddMonths(start, n).After(end) {
		n--
	}
	return max(n, 0)
}

// PeriodEnd is the last day of a period of n months starting on from: the
// day before the corresponding day, or — when the target month has no
// corresponding day — its last day (a permit from 29 February 2028 for a
// year is valid until 28 February 2029).
func PeriodEnd(from time.Time, n int) time.Time {
	end := AddMonths(from, n)
	if end.Day() == from.Day() {
		return end.AddDate(0, 0, -1)
	}
	return end
}

// DaysLeft is what a deadline due has left at now, for a clock that stops
// (a case gone back to the applicant): the days (working days if working)
// after now's day up to and including its last day; -1 when it has passed.
// Resume gives them back.
func (c *Calendar) DaysLeft(now, due time.Time, working bool) int {
	if !now.Before(due) {
		return -1
	}
	n := 0
	for day := c.startOfDay(now).AddDate(0, 0, 1); day.Before(due); day = day.AddDate(0, 0, 1) {
		if !working || c.IsWorkingDay(day) {
			n++
		}
	}
	return n
}

// Resume is the due date of a clock restarted at now with the days
// DaysLeft kept: that many days after now's day (none: the end of now's
// day); a clock that had passed its deadline is overdue from now's day.
func (c *Calendar) Resume(now time.Time, left int, working bool) time.Time {
	if left < 0 {
		return c.startOfDay(now)
	}
	return c.Due(now, Deadline{N: left, Working: working})
}

// WithinUntil is the last due date whose countdown at now (Remaining, in
// working days, today included) is at most n: due dates are the midnights
// that end a day, so it is the start of the day that would be the
// (n+1)-th working day counted.
func (c *Calendar) WithinUntil(now time.Time, n int) time.Time {
	day, counted := c.startOfDay(now), 0
	for {
		if c.IsWorkingDay(day) {
			counted++
			if counted > n {
				return day
			}
		}
		day = day.AddDate(0, 0, 1)
	}
}

// LateCut is the last due date that is more than n working days late at
// now: one whose n-th working day after its last day ended before now's
// day. It is the start of the n-th working day before now's day (never
// after now).
func (c *Calendar) LateCut(now time.Time, n int) time.Time {
	day := c.startOfDay(now)
	for k := 0; k < n; {
		day = day.AddDate(0, 0, -1)
		if c.IsWorkingDay(day) {
			k++
		}
	}
	if day.After(now) {
		return now
	}
	return day
}

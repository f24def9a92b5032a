package workflow

import (
	"context"
	"strings"
	"sync"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// The working-day calendar's administration (/admin/calendar): an
// administrator sets a day a holiday, a working day (调休) or normal over
// what workflows/calendar.yaml says — the year's arrangement published
// late, or changed. Each change is one transaction with its history row and
// audit entry. This node's calendar takes it at once; every other node
// finds the newer version within its watch interval (portal.WatchReload).
// Deadlines already set stay as they were computed; new ones count with
// the change.

// calendarVersion is the newest change this node's calendar includes.
type calendarVersion struct {
	mu sync.Mutex
	v  int64
}

// mayManageCalendar answers 404 to anyone but the city's administrator
// (policy "calendar, manage"); no user is the command line.
func (e *Engine) mayManageCalendar(actor portal.Actor) error {
	if actor.User == nil {
		return nil
	}
	if _, ok := e.Authz.Can(actor.User, e.Authz.Divisions().Root, "calendar", "manage"); !ok {
		return portal.NotFound(nil)
	}
	return nil
}

// MayManageCalendar reports whether u administers the calendar.
func (e *Engine) MayManageCalendar(u *portal.User) bool {
	return u != nil && e.mayManageCalendar(portal.Actor{User: u}) == nil
}

// CalendarYear is a year of the calendar as the administration shows it.
type CalendarYear struct {
	Year     int                     `json:"year"`
	Holidays []string                `json:"holidays"`
	Workdays []string                `json:"workdays"`
	History  []portal.CalendarChange `json:"history"`
}

// CalendarOf returns a year's days off and working weekend days, and the
// year's changes.
func (e *Engine) CalendarOf(ctx context.Context, actor portal.Actor, year int) (*CalendarYear, error) {
	if err := e.mayManageCalendar(actor); err != nil {
		return nil, err
	}
	if year < 2000 || year > 2100 {
		return nil, portal.NotFound(nil)
	}
	y := &CalendarYear{Year: year}
	y.Holidays, y.Workdays = e.Calendar.Year(year)
	hist, err := e.Store.CalendarChanges(ctx, time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC).Format("2006-"), 200)
	if err != nil {
		return nil, err
	}
	y.History = hist
	return y, nil
}

func calendarField(field, rule string) error {
	e := portal.Invalid(portal.FieldError{Field: field, Rule: rule})
	e.Labels = "admin.field"
	return e
}

// SetCalendarDay sets a day (YYYY-MM-DD) a holiday, a workday or normal,
// with an optional note (which holiday, the notice's number).
func (e *Engine) SetCalendarDay(ctx context.Context, actor portal.Actor, day, kind, note string) (*portal.CalendarChange, error) {
	if err := e.mayManageCalendar(actor); err != nil {
		return nil, err
	}
	day, note = strings.TrimSpace(day), strings.TrimSpace(note)
	var fields []portal.FieldError
	t, err := time.Parse(time.DateOnly, day)
	if err != nil || t.Year() < 2000 || t.Year() > 2100 {
		fields = append(fields, portal.FieldError{Field: "day", Rule: "date"})
	}
	if kind != DayHoliday && kind != DayWorkday && kind != DayNormal {
		fields = append(fields, portal.FieldError{Field: "kind", Rule: "oneof"})
	}
	if len([]rune(note)) > 100 || strings.ContainsAny(note, "\r\n\t\x00") {
		fields = append(fields, portal.FieldError{Field: "note", Rule: "max", Param: "100"})
	}
	if len(fields) > 0 {
		err := portal.Invalid(fields...)
		err.Labels = "admin.field"
		return nil, err
	}
	old := e.Calendar.Kind(day)
	if old == kind {
		return nil, calendarField("kind", "unchanged")
	}
	c := &portal.CalendarChange{At: e.Now(), Actor: actor.ID(), Day: day, Old: old, New: kind, Note: note}
	if actor.User != nil {
		c.ActorName = actor.User.Name
	}
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.SetCalendarDay(ctx, day, kind); err != nil {
			return err
		}
		if err := tx.InsertCalendarChange(ctx, c); err != nil {
			return err
		}
		ent := audit.Entry(actor, "calendar.set", "calendar:"+day, audit.ResultOK)
		if actor.User != nil {
			ent.Role, ent.Division = "admin", e.Authz.Divisions().Root
		}
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]string{"old": old, "new": kind, "note": note}))
	})
	if err != nil {
		return nil, err
	}
	return c, e.ReloadCalendar(ctx)
}

// ReloadCalendar puts the days set in the database over the file's.
func (e *Engine) ReloadCalendar(ctx context.Context) error {
	e.calVersion.mu.Lock()
	defer e.calVersion.mu.Unlock()
	v, err := e.Store.CalendarVersion(ctx)
	if err != nil {
		return err
	}
	days, err := e.Store.CalendarDays(ctx)
	if err != nil {
		return err
	}
	e.Calendar.Apply(days)
	e.calVersion.v = v
	return nil
}

// CalendarStale reports whether another node changed the calendar since
// this one loaded it.
func (e *Engine) CalendarStale(ctx context.Context) (bool, error) {
	v, err := e.Store.CalendarVersion(ctx)
	if err != nil {
		return false, err
	}
	e.calVersion.mu.Lock()
	defer e.calVersion.mu.Unlock()
	return v != e.calVersion.v, nil
}

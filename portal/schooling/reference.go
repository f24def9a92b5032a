package schooling

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/csvfile"
	"tzportal/portal/workflow"
)

// SchoolsHeader is the header line a schools file must have (the fixed
// import format): one row per school, year and entry grade.
var SchoolsHeader = []string{"code", "name", "district", "catchment", "year", "grade", "seats", "public"}

var (
	schoolCodeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$`)
	divisionRE   = regexp.MustCompile(`^\d{9}$`)
)

// LineError is a bad row of an import: the whole file is refused.
type LineError = csvfile.LineError

// ParseSchools reads a schools file and checks every row: a district of
// Taizhou, catchment divisions that are streets or towns of that district,
// a year, grade 1 or 7, seats ≥ 0, public yes or no, no row twice, and the
// same name, district, catchment and public for a school's rows of a year.
// The first bad row refuses the file.
func ParseSchools(r io.Reader, divs *portal.Divisions) ([]portal.School, error) {
	var out []portal.School
	seen := map[string]int{}
	first := map[string]portal.School{}
	err := csvfile.Rows(r, SchoolsHeader, "schools", func(line int, rec []string) error {
		s, lerr := parseSchool(rec, line, divs)
		if lerr != nil {
			return lerr
		}
		key := s.Code + "/" + strconv.Itoa(s.Year) + "/" + s.Grade
		if prev, dup := seen[key]; dup {
			return &LineError{Line: line, Column: "code", Reason: fmt.Sprintf("school %s, year %d, grade %s is on line %d already", s.Code, s.Year, s.Grade, prev)}
		}
		seen[key] = line
		yk := s.Code + "/" + strconv.Itoa(s.Year)
		if f, ok := first[yk]; ok && (f.Name != s.Name || f.District != s.District || f.Public != s.Public || !slices.Equal(f.Catchment, s.Catchment)) {
			return &LineError{Line: line, Column: "code", Reason: fmt.Sprintf("school %s's rows for %d differ in name, district, catchment or public", s.Code, s.Year)}
		} else if !ok {
			first[yk] = s
		}
		out = append(out, s)
		return nil
	})
	return out, err
}

func parseSchool(rec []string, line int, divs *portal.Divisions) (portal.School, *LineError) {
	bad := func(col, reason string) *LineError { return &LineError{Line: line, Column: col, Reason: reason} }
	for i := range rec {
		rec[i] = strings.TrimSpace(rec[i])
	}
	s := portal.School{Code: rec[0], Name: rec[1], District: rec[2], Grade: rec[5]}
	if !schoolCodeRE.MatchString(s.Code) {
		return s, bad("code", "letters, digits, - and _, at most 32")
	}
	if n := len([]rune(s.Name)); n < 2 || n > 60 {
		return s, bad("name", "2 to 60 characters")
	}
	if d, ok := divs.Get(s.District); !ok || len(s.District) != 6 || d.Leaf() {
		return s, bad("district", "a 6-digit district of Taizhou")
	}
	for _, code := range strings.Split(rec[3], ";") {
		code = strings.TrimSpace(code)
		if code == "" {
			continue
		}
		d, ok := divs.Get(code)
		if !divisionRE.MatchString(code) || !ok || !d.Leaf() || !strings.HasPrefix(code, s.District) {
			return s, bad("catchment", code+" is not a street or town of district "+s.District)
		}
		if !slices.Contains(s.Catchment, code) {
			s.Catchment = append(s.Catchment, code)
		}
	}
	if len(s.Catchment) == 0 {
		return s, bad("catchment", "at least one 9-digit division, separated by ;")
	}
	slices.Sort(s.Catchment)
	year, err := strconv.Atoi(rec[4])
	if err != nil || year < 2000 || year > 2100 {
		return s, bad("year", "a year such as 2027")
	}
	s.Year = year
	if s.Grade != "1" && s.Grade != "7" {
		return s, bad("grade", "1 or 7")
	}
	seats, err := strconv.Atoi(rec[6])
	if err != nil || seats < 0 || seats > 100000 {
		return s, bad("seats", "a whole number from 0")
	}
	s.Seats = seats
	switch rec[7] {
	case "yes":
		s.Public = true
	case "no":
	default:
		return s, bad("public", "yes or no")
	}
	return s, nil
}

// ImportSchools stores the parsed rows (inserted or replaced by code, year
// and grade) in one transaction with its audit entry.
func ImportSchools(ctx context.Context, e *workflow.Engine, actor portal.Actor, rows []portal.School) error {
	return e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.PutSchools(ctx, rows); err != nil {
			return err
		}
		years := map[int]bool{}
		for _, r := range rows {
			years[r.Year] = true
		}
		ent := audit.Entry(actor, "schools.import", "schools", audit.ResultOK)
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"rows": len(rows), "years": years}))
	})
}

// Window defaults when not given (days on public notice, working days to
// appeal after publication).
const (
	defaultPublicationDays = 5
	defaultAppealDays      = 5
)

// SetWindow sets a district's enrollment window for a year.
func SetWindow(ctx context.Context, e *workflow.Engine, actor portal.Actor, w portal.EnrollmentWindow) error {
	var bad []portal.FieldError
	if d, ok := e.Authz.Divisions().Get(w.District); !ok || len(w.District) != 6 || d.Leaf() {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if w.Year < 2000 || w.Year > 2100 {
		bad = append(bad, portal.FieldError{Field: "year", Rule: "year"})
	}
	opens, err1 := time.Parse(time.DateOnly, w.Opens)
	closes, err2 := time.Parse(time.DateOnly, w.Closes)
	if err1 != nil {
		bad = append(bad, portal.FieldError{Field: "opens", Rule: "date"})
	}
	if err2 != nil {
		bad = append(bad, portal.FieldError{Field: "closes", Rule: "date"})
	}
	if err1 == nil && err2 == nil && closes.Before(opens) {
		bad = append(bad, portal.FieldError{Field: "closes", Rule: "gtefield", Param: "opens"})
	}
	if w.PublicationDays == 0 {
		w.PublicationDays = defaultPublicationDays
	}
	if w.AppealDays == 0 {
		w.AppealDays = defaultAppealDays
	}
	if w.PublicationDays < 1 || w.PublicationDays > 60 {
		bad = append(bad, portal.FieldError{Field: "publication_days", Rule: "range"})
	}
	if w.AppealDays < 1 || w.AppealDays > 60 {
		bad = append(bad, portal.FieldError{Field: "appeal_days", Rule: "range"})
	}
	if len(bad) > 0 {
		return &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".window"}
	}
	w.UpdatedBy, w.UpdatedAt = actor.ID(), e.Now()
	return e.Store.Tx(ctx, func(tx portal.Tx) error {
		if err := tx.PutEnrollmentWindow(ctx, &w); err != nil {
			return err
		}
		ent := audit.Entry(actor, "enrollment_window.set", "enrollment_window:"+w.District+"/"+strconv.Itoa(w.Year), audit.ResultOK)
		ent.Division = w.District
		return e.Audit.Append(ctx, tx, audit.WithDetail(ent, map[string]any{"opens": w.Opens, "closes": w.Closes,
			"publication_days": w.PublicationDays, "appeal_days": w.AppealDays}))
	})
}

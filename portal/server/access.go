package server

import (
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
)

// accessDoc is one line of a case's access log (查阅记录): which office, in
// which role, did what and when — never who.
type accessDoc struct {
	Time      time.Time `json:"time"`   // the latest access of the day
	Office    string    `json:"office"` // the division of the grant that reached the case
	Role      string    `json:"role"`   // the role's name, localized
	Kind      string    `json:"kind"`   // view, material, reveal
	Count     int       `json:"count"`  // accesses of this kind by this person that day
	KindLabel string    `json:"-"`
	TimeText  string    `json:"-"`
}

// accessDocs presents access rows, the latest first, as the store read them.
func (s *Server) accessDocs(l *locale.L, log []portal.Access) []accessDoc {
	out := make([]accessDoc, 0, len(log))
	divs := s.Authz.Divisions()
	zone := s.Engine.Calendar.Zone
	for _, a := range log {
		office := a.Division
		if d, ok := divs.Get(a.Division); ok {
			office = d.Name
		}
		role := a.Role
		if l.Has("role." + a.Role) {
			role = l.T("role." + a.Role)
		}
		at := a.LastAt.In(zone)
		out = append(out, accessDoc{Time: at, Office: office, Role: role, Kind: a.Kind, Count: a.Count,
			KindLabel: l.T("access.kind." + a.Kind), TimeText: at.Format("2006-01-02 15:04")})
	}
	return out
}

// apiAccessLog is GET /api/v1/cases/{case_no}/access-log: the applicant's
// (and a supervisor's) view of who read the case, by office and role.
func (s *Server) apiAccessLog(c *fiber.Ctx) error {
	kase, log, err := s.Engine.AccessLog(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"case_no": kase.No, "items": s.accessDocs(loc(c), log)})
}

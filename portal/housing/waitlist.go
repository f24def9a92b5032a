package housing

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Place is a household on the waiting list (轮候) of a district and kind.
type Place struct {
	CaseNo      string
	ApplicantID int64
	// Applicant is the applicant's name as public lists show it ("张*"),
	// written on the case when its notice opened.
	Applicant string
	Class     string // a priority flag of the settings, or ClassGeneral
}

// Class returns a household's priority class: the first flag of the
// settings' priority it has, else ClassGeneral.
func (s *Service) Class(c *portal.Case) (string, error) {
	f, err := stored(c)
	if err != nil {
		return "", err
	}
	_, class := s.class(f.FamilyMigrated, f.Elderly, f.Disabled)
	return class, nil
}

// class is the rank and id of a household's priority class from its flags.
func (s *Service) class(family, elderly, disabled *bool) (int, string) {
	for i, p := range s.set.Priority {
		var flag *bool
		switch p {
		case fieldFamily:
			flag = family
		case fieldElderly:
			flag = elderly
		case fieldDisabled:
			flag = disabled
		}
		if isTrue(flag) {
			return i, p
		}
	}
	return len(s.set.Priority), ClassGeneral
}

// listName is the name of the waiting list of a district and kind.
func listName(district, kind string) string { return ServiceID + "/" + district + "/" + kind }

// ListEntry is a waiting household's entry on its list (workflow.Lister):
// the list of its district and kind, its priority class, its place from
// the draw that ranked it, when it joined the list, and its masked name
// from its notice. The engine keeps it with each step; the store orders a
// list by class, then those a draw ranked by that rank before the others,
// then by when they joined (a declined offer joins again at the end), then
// by case.
func (s *Service) ListEntry(c *portal.Case) (portal.ListEntry, error) {
	f, err := stored(c)
	if err != nil {
		return portal.ListEntry{}, err
	}
	res, err := readResult(c)
	if err != nil {
		return portal.ListEntry{}, err
	}
	e := portal.ListEntry{List: listName(c.District, f.Kind)}
	e.ClassRank, e.Class = s.class(f.FamilyMigrated, f.Elderly, f.Disabled)
	if rank, ok := res[resDrawRank].(float64); ok && rank > 0 {
		e.PriorRank = int(rank)
	}
	at, _ := res[resWaitlistedAt].(string)
	if e.JoinedAt, err = time.Parse(time.RFC3339Nano, at); err != nil {
		return portal.ListEntry{}, fmt.Errorf("housing: %s is waiting without %s: %w", c.No, resWaitlistedAt, err)
	}
	e.Label, _ = res["notice_applicant"].(string)
	if e.Label == "" && c.ApplicantName != "" { // on the list without a notice (never, as the workflow stands)
		e.Label = MaskedName(c.ApplicantName)
	}
	return e, nil
}

// casesPage is how many cases one read of a list takes.
const casesPage = 500

// Waitlist returns the waiting list of a district and kind in order (see
// ListEntry), read whole from the lists the engine keeps.
func (s *Service) Waitlist(ctx context.Context, r portal.Reader, district, kind string) ([]Place, error) {
	ms, err := r.ListMembers(ctx, listName(district, kind))
	if err != nil {
		return nil, err
	}
	out := make([]Place, len(ms))
	for i, m := range ms {
		out[i] = Place{CaseNo: m.CaseNo, ApplicantID: m.ApplicantID, Applicant: m.Label, Class: m.Class}
	}
	return out, nil
}

// Annotate adds to a case's result, as it is read, what depends on other
// cases or on time (workflow.Annotator; nothing of it is stored): a
// waiting household's place on its list (waitlist: position, of, class);
// how many objections its notice drew and how many are open (their count
// only: who objected and why is for the district's officers); and on a
// draft, the rules applied to the form as it stands (eligibility, a
// preview).
func (s *Service) Annotate(ctx context.Context, r portal.Reader, c *portal.Case) (map[string]any, error) {
	out := map[string]any{}
	switch c.State {
	case stateWaitlisted:
		f, err := stored(c)
		if err != nil {
			return nil, err
		}
		e, place, of, err := r.ListPlace(ctx, c.ID)
		if err != nil && portal.ErrorCode(err) != portal.ENOTFOUND {
			return nil, err
		}
		if e != nil {
			out["waitlist"] = map[string]any{"position": place, "of": of, "class": e.Class}
		}
		proof, err := s.drawProof(ctx, r, c, f.Kind)
		if err != nil {
			return nil, err
		}
		if proof != nil {
			out["draw"] = proof
		}
	case "draft", "correction":
		if a, err := s.preview(ctx, r, c); err != nil {
			return nil, err
		} else if a != nil {
			out["eligibility"] = a
		}
	}
	if label := unitLabel(c.Result); label != "" {
		out["unit_label"] = label
	}
	if resultText(c.Result, resNoticeRef) != "" {
		all, err := r.ObjectionsOf(ctx, c.ID)
		if err != nil {
			return nil, err
		}
		if len(all) > 0 {
			open := 0
			for _, o := range all {
				if o.ResolvedAt == nil {
					open++
				}
			}
			out["objections"] = map[string]any{"total": len(all), "open": open}
		}
	}
	return out, nil
}

// unitLabel is the unit a draw offered (result.unit), as people read it:
// its code, whether the draw wrote the code or the unit ({"code": …}).
func unitLabel(result json.RawMessage) string {
	var r struct {
		Unit json.RawMessage `json:"unit"`
	}
	if json.Unmarshal(result, &r) != nil || len(r.Unit) == 0 {
		return ""
	}
	var code string
	if json.Unmarshal(r.Unit, &code) == nil {
		return code
	}
	var u struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(r.Unit, &u) == nil {
		return u.Code
	}
	return ""
}

// preview applies the rules to a draft whose answers are complete (nil
// while they are not): the permit the portal holds is checked when the
// case is handed in.
func (s *Service) preview(ctx context.Context, r portal.Reader, c *portal.Case) (*Assessment, error) {
	f, err := stored(c)
	if err != nil {
		return nil, err
	}
	if no, err := s.settledCase(ctx, r, c.ApplicantID); err != nil {
		return nil, err
	} else if no != "" {
		yes := true
		f.HukouLocal = &yes
	}
	f.normalize()
	fields, err := s.validate(f, workflow.FormInput{Mode: workflow.Complete})
	if err != nil {
		return nil, err
	}
	// The members' ID numbers are sealed in the stored form, and no rule
	// reads them: their errors are not the rules' concern.
	fields = slices.DeleteFunc(fields, func(fe portal.FieldError) bool {
		return strings.HasPrefix(fe.Field, fieldMembers+"[") && strings.HasSuffix(fe.Field, "]."+fieldIDNumber)
	})
	if len(fields) > 0 {
		return nil, nil
	}
	a := s.assess(f, "")
	a.Preview = true
	return a, nil
}

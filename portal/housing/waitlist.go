package housing

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
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
	// written on the case when its notice opened ("" if it was not).
	Applicant string
	Class     string // a priority flag of the settings, or ClassGeneral
	// classRank orders the classes: the settings' order, general last.
	classRank int
	// DrawRank is the household's place in the last draw that ranked it
	// (result.draw_rank, set by a draw), 0 if none.
	DrawRank     int
	WaitlistedAt time.Time
	id           int64
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

// casesPage is how many cases one read of a list takes; listPage how many
// households one read of a waiting list takes (a few keys each, some 100
// bytes: a district's whole list is one read, as every read of a page
// makes PostgreSQL gather the district's list anew).
const (
	casesPage = 500
	listPage  = 200_000
)

// The keys the waiting list reads of a case (FactsInState): of its form
// the kind and the priority flags, of its result its place from a draw,
// when it joined the list and the masked name of its notice. Reading only
// these keeps a district's list of a hundred thousand households quick.
var (
	listFormKeys   = []string{fieldKind, fieldFamily, fieldElderly, fieldDisabled}
	listResultKeys = []string{resDrawRank, resWaitlistedAt, "notice_applicant"}
)

// Waitlist returns the waiting list of a district and kind in order: by
// priority class, then by the draw that ranked the households (those not
// ranked by a draw after those it ranked), then by when they joined the
// list (a declined offer joins again at the end), then by case.
func (s *Service) Waitlist(ctx context.Context, r portal.Reader, district, kind string) ([]Place, error) {
	var out []Place
	var after int64
	for {
		page, err := r.FactsInState(ctx, ServiceID, district, stateWaitlisted, listFormKeys, listResultKeys, after, listPage)
		if err != nil {
			return nil, err
		}
		for i := range page {
			c := &page[i]
			k, err := factText(c.Form[0])
			if err != nil {
				return nil, fmt.Errorf("housing: case %s: %w", c.No, err)
			}
			if k != kind {
				continue
			}
			at, err := factText(c.Result[1])
			if err != nil {
				return nil, fmt.Errorf("housing: case %s: %w", c.No, err)
			}
			name, err := factText(c.Result[2])
			if err != nil {
				return nil, fmt.Errorf("housing: case %s: %w", c.No, err)
			}
			family, elderly, disabled := factTrue(c.Form[1]), factTrue(c.Form[2]), factTrue(c.Form[3])
			rank, _ := strconv.ParseFloat(string(c.Result[0]), 64)
			p := Place{CaseNo: c.No, ApplicantID: c.ApplicantID, Applicant: name, id: c.ID}
			p.classRank, p.Class = s.class(&family, &elderly, &disabled)
			if rank > 0 {
				p.DrawRank = int(rank)
			}
			p.WaitlistedAt, _ = time.Parse(time.RFC3339Nano, at)
			out = append(out, p)
		}
		if len(page) < listPage {
			break
		}
		after = page[len(page)-1].ID
	}
	slices.SortFunc(out, comparePlaces)
	return out, nil
}

// comparePlaces is the waiting list's order.
func comparePlaces(a, b Place) int {
	if c := cmp.Compare(a.classRank, b.classRank); c != 0 {
		return c
	}
	switch {
	case a.DrawRank > 0 && b.DrawRank > 0:
		if c := cmp.Compare(a.DrawRank, b.DrawRank); c != 0 {
			return c
		}
	case a.DrawRank > 0:
		return -1
	case b.DrawRank > 0:
		return 1
	}
	if c := a.WaitlistedAt.Compare(b.WaitlistedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
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
		list, err := s.Waitlist(ctx, r, c.District, f.Kind)
		if err != nil {
			return nil, err
		}
		if i := slices.IndexFunc(list, func(p Place) bool { return p.CaseNo == c.No }); i >= 0 {
			out["waitlist"] = map[string]any{"position": i + 1, "of": len(list), "class": list[i].Class}
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

// factText decodes a JSON string read by FactsInState ("" for none). The
// strings the list reads (a kind, a time, a masked name) have no escapes,
// so most need no decoder.
func factText(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && !bytes.ContainsRune(raw[1:len(raw)-1], '\\') &&
		!bytes.ContainsRune(raw[1:len(raw)-1], '"') {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// factTrue reports whether a JSON value read by FactsInState is true.
func factTrue(raw json.RawMessage) bool { return string(raw) == "true" }

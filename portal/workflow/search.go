package workflow

import (
	"context"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/pii"
	"tzportal/portal/validate"
)

// SearchAction is the audit action of a search of cases: a clerk looking
// a person up by their mobile number or name is an access to personal
// data, kept in the trail like a reveal.
const SearchAction = "case.search"

// searchMaxLen is the longest search the worklist accepts, in characters:
// longer than any case number, mobile number or name, so anything longer
// is a mistake (a pasted paragraph), refused before any query.
const searchMaxLen = 40

// ParseSearch reads the q of a list (GET /cases?q=): a case number
// (portal.ValidCaseNo, in either case), a mobile number (11 digits, as
// validate.Mobile reads them: spaces, dashes, +86), the last four digits of
// one, or an applicant's name (letters, with the · of minority names and
// spaces). Anything else is a 422 on q. An empty q is no search.
func ParseSearch(q string) (portal.CaseSearch, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return portal.CaseSearch{}, nil
	}
	bad := func(rule, param string) (portal.CaseSearch, error) {
		e := portal.Invalid(portal.FieldError{Field: "q", Rule: rule, Param: param})
		e.Labels = "cases.filter"
		return portal.CaseSearch{}, e
	}
	if utf8.RuneCountInString(q) > searchMaxLen {
		return bad("max", strconv.Itoa(searchMaxLen))
	}
	if no := strings.ToUpper(q); portal.ValidCaseNo(no) {
		return portal.CaseSearch{Kind: portal.SearchCaseNo, Value: no}, nil
	}
	if strings.IndexFunc(q, func(r rune) bool { return !strings.ContainsRune("0123456789+- ", r) }) < 0 {
		if m, ok := validate.Mobile(q); ok {
			return portal.CaseSearch{Kind: portal.SearchMobile, Value: m}, nil
		}
		if len(q) == 4 {
			return portal.CaseSearch{Kind: portal.SearchMobileTail, Value: q}, nil
		}
		return bad("search", "")
	}
	letters := 0
	for _, r := range q {
		switch {
		case unicode.IsLetter(r):
			letters++
		case unicode.Is(unicode.Mn, r), r == '·', r == '•', r == ' ':
		default:
			return bad("search", "")
		}
	}
	if letters == 0 {
		return bad("search", "")
	}
	return portal.CaseSearch{Kind: portal.SearchName, Value: q}, nil
}

// auditSearch records one entry for a search: its kind, what was looked
// for (a full mobile number masked, as the views show it) and the case
// numbers of the page found. A search that cannot be recorded fails: no
// one looks people up unseen.
func (e *Engine) auditSearch(ctx context.Context, actor portal.Actor, s portal.CaseSearch, cases []portal.Case) error {
	q := s.Value
	if s.Kind == portal.SearchMobile {
		q = pii.MaskMobile(q)
	}
	found := make([]string, 0, len(cases))
	for _, c := range cases {
		found = append(found, c.No)
	}
	ent := audit.WithDetail(audit.Entry(actor, SearchAction, "", audit.ResultOK),
		map[string]any{"kind": s.Kind, "q": q, "found": found})
	return e.Audit.Record(context.WithoutCancel(ctx), e.Store, ent)
}

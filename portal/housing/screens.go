package housing

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Screens are this service's pages beyond its cases: the public notice
// (公示) and a household's notice with the form to object to it — both
// without a login, readable on a phone, working without JavaScript — and a
// case's objections for the officers who decide them.
func (s *Service) Screens(e *workflow.Engine) []workflow.Screen {
	return append(drawScreens(e), []workflow.Screen{
		{Method: http.MethodGet, Path: "/notices", Public: true, Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			items, err := s.Notices(ctx, e)
			if err != nil {
				return nil, err
			}
			return &workflow.Shown{Template: ServiceID + "/notices", Title: ServiceID + ".notices.title", Data: &noticesPage{Items: items}}, nil
		}},
		{Method: http.MethodGet, Path: "/notices/:ref", Public: true, Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			return s.noticePage(ctx, e, r, Objection{}, r.Query("objected") == "1", nil)
		}},
		{Method: http.MethodPost, Path: "/notices/:ref/objections", Public: true, Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			o := Objection{Contact: r.Form("contact"), Reason: r.Form("reason")}
			ref := r.Param("ref")
			err := s.throttle(ctx, e, r.Actor.IP)
			if err == nil {
				err = s.Object(ctx, e, PublicActor(r.Actor.IP), ref, o)
			}
			switch {
			case err == nil:
				return &workflow.Shown{Redirect: "/notices/" + url.PathEscape(ref) + "?objected=1"}, nil
			case refusedInPlace(err):
				return s.noticePage(ctx, e, r, o, false, err)
			}
			return nil, err
		}},
		{Method: http.MethodGet, Path: "/housing/cases/:no/objections", Handle: func(ctx context.Context, r workflow.Request) (*workflow.Shown, error) {
			v, items, err := ObjectionsFor(ctx, e, r.Actor, r.Param("no"))
			if err != nil {
				return nil, err
			}
			d := &objectionsPage{CaseNo: v.Case.No, Version: v.Case.Version, State: v.Case.State, Items: items}
			for _, it := range items {
				if it.Open {
					d.Open++
				}
			}
			d.CanDecide = v.Case.State == stateObjection && d.Open > 0 && slices.Contains(v.Allowed, "resolve_objection")
			return &workflow.Shown{Template: ServiceID + "/objections", Title: ServiceID + ".objections.title", Data: d}, nil
		}},
	}...)
}

// noticesPage is the public notice: the households on it.
type noticesPage struct {
	Items []Notice
}

// noticePage is one household's notice and the form to object to it.
type noticePage struct {
	Notice   *Notice
	Typed    Objection
	Objected bool // an objection was just filed
	Limits   objectionSettings
}

// noticePage shows a household's notice; err is a refusal of what was
// typed (kept in the form). A notice no longer running is 404, the same as
// one that never was.
func (s *Service) noticePage(ctx context.Context, e *workflow.Engine, r workflow.Request, typed Objection, objected bool,
	err error) (*workflow.Shown, error) {
	n, nerr := s.noticeOf(ctx, e, r.Param("ref"))
	if nerr != nil {
		return nil, nerr
	}
	if !e.Now().Before(n.ends) && err == nil && !objected {
		err = noticeEnded(n)
	}
	d := &noticePage{Notice: n, Typed: typed, Objected: objected, Limits: s.set.Objections}
	return &workflow.Shown{Template: ServiceID + "/notice", Title: ServiceID + ".notice.title", Data: d, Err: err}, nil
}

// objectionsPage is a case's objections as its officers see them.
type objectionsPage struct {
	CaseNo    string
	Version   int
	State     string
	Items     []ObjectionView
	Open      int
	CanDecide bool // the viewer may decide them now (the form posts to the case's event)
}

// throttle bounds the objections one address may post through the page
// in a minute (objections.per_minute; the API's route is throttled by the
// server). The count is kept in the database, so every node counts
// together; the address is kept only as its keyed hash.
func (s *Service) throttle(ctx context.Context, e *workflow.Engine, ip string) error {
	minute := e.Now().UTC().Format("200601021504")
	var n int64
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		var err error
		n, err = tx.NextSeq(ctx, "objection-ip:"+s.sealer.Index("ip:"+ip), minute)
		return err
	})
	if err != nil {
		return err
	}
	if n > int64(s.set.Objections.PerMinute) {
		return &portal.Error{Code: portal.ETOOMANY, Message: "error.too_many_requests",
			Err: fmt.Errorf("housing: objections from one address: %d this minute", n)}
	}
	return nil
}

// guideData is what the guide page adds: how many households are on
// notice now, with a link to them.
type guideData struct {
	OnNotice int
}

// Guide returns how many households are on public notice on day.
func (s *Service) Guide(ctx context.Context, r portal.Reader, day string) (any, error) {
	n := 0
	for _, d := range s.districts() {
		for _, st := range noticeStates {
			var after int64
			for {
				page, err := r.CasesInState(ctx, ServiceID, d, st, after, casesPage)
				if err != nil {
					return nil, err
				}
				for i := range page {
					ends, err := time.Parse(time.RFC3339, resultText(page[i].Result, resNoticeEnds))
					if err == nil && ends.Format(time.DateOnly) > day {
						n++
					}
				}
				if len(page) < casesPage {
					break
				}
				after = page[len(page)-1].ID
			}
		}
	}
	return &guideData{OnNotice: n}, nil
}

// districts are the districts of the settings' indicator: the city's
// county-level units (the guide has no division tree at hand).
func (s *Service) districts() []string {
	out := make([]string, 0, len(s.set.Indicator.Households))
	for d := range s.set.Indicator.Households {
		out = append(out, d)
	}
	return out
}

// refusedInPlace reports whether a page shows err next to what was typed
// (bad input, a refused rule, a notice ended, too many objections) rather
// than as an error page.
func refusedInPlace(err error) bool {
	switch portal.ErrorCode(err) {
	case portal.EINVALID, portal.ERULE, portal.ECONFLICT, portal.ETOOMANY:
		return portal.AsError(err) != nil
	}
	return false
}

package server

import (
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/rating"
)

// 好差评: the applicant's rating of an ended case (the case page's form and
// POST /api/v1/cases/{case_no}/rating), and the supervisors' page of rates
// and follow-ups (/oversight/ratings, GET /api/v1/ratings).

// ratingDoc is a rating as the API returns it and the case page shows it.
type ratingDoc struct {
	CaseNo     string       `json:"case_no"`
	Score      int          `json:"score"`
	ScoreLabel string       `json:"score_label"`
	Comment    string       `json:"comment"`
	CreatedAt  time.Time    `json:"created_at"`
	FollowUp   *followUpDoc `json:"follow_up"`
}

// followUpDoc is a bad rating's follow-up.
type followUpDoc struct {
	CaseNo      string     `json:"case_no"`
	Service     string     `json:"service"`
	Division    string     `json:"division"`
	Office      string     `json:"office"`
	State       string     `json:"state"` // visit, rectify, closed
	StateLabel  string     `json:"state_label"`
	Score       int        `json:"score"`
	Comment     string     `json:"comment"`
	OpenedAt    time.Time  `json:"opened_at"`
	VisitDue    time.Time  `json:"visit_due"`
	RectifyDue  time.Time  `json:"rectify_due"`
	VisitedAt   *time.Time `json:"visited_at"`
	VisitNote   string     `json:"visit_note"`
	ClosedAt    *time.Time `json:"closed_at"`
	ClosingNote string     `json:"closing_note"`
	OnTime      *bool      `json:"on_time"` // once closed: both steps in time
	Overdue     bool       `json:"overdue"` // open, and its next step's time has passed
	// For the page.
	DueText  string `json:"-"`
	Next     string `json:"-"` // the step to record now: visit, close
	Typed    string `json:"-"` // what was typed into its failed form
	ErrorMsg string `json:"-"`
}

func (s *Server) followUpDoc(l *locale.L, f *portal.FollowUp) *followUpDoc {
	zone := s.Zone
	d := &followUpDoc{CaseNo: f.CaseNo, Service: f.Service, Division: f.Division, Office: f.Division, State: f.State,
		StateLabel: l.T("rating.follow_up.state." + f.State), Score: f.Score, Comment: f.Comment,
		OpenedAt: f.OpenedAt.In(zone), VisitDue: f.VisitDue.In(zone), RectifyDue: f.RectifyDue.In(zone),
		VisitNote: f.VisitNote, ClosingNote: f.ClosingNote}
	if div, ok := s.Authz.Divisions().Get(f.Division); ok {
		d.Office = div.Name
	}
	if f.VisitedAt != nil {
		t := f.VisitedAt.In(zone)
		d.VisitedAt = &t
	}
	if f.ClosedAt != nil {
		t := f.ClosedAt.In(zone)
		d.ClosedAt = &t
		on := rating.OnTime(f)
		d.OnTime = &on
	}
	now := s.Now()
	due := f.VisitDue
	switch f.State {
	case portal.FollowUpVisit:
		d.Next = rating.StepVisit
	case portal.FollowUpRectify:
		d.Next, due = rating.StepClose, f.RectifyDue
	}
	if d.Next != "" {
		d.Overdue = !now.Before(due)
		d.DueText = s.Engine.Calendar.LastDay(due).Format("2006-01-02")
	}
	return d
}

func (s *Server) ratingDoc(l *locale.L, r *portal.Rating) *ratingDoc {
	d := &ratingDoc{CaseNo: r.CaseNo, Score: r.Score, ScoreLabel: l.T("rating.score." + strconv.Itoa(r.Score)), Comment: r.Comment,
		CreatedAt: r.CreatedAt.In(s.Zone)}
	if r.FollowUp != nil {
		d.FollowUp = s.followUpDoc(l, r.FollowUp)
	}
	return d
}

// rateBody is POST /api/v1/cases/{case_no}/rating.
type rateBody struct {
	Score   *int   `json:"score"`
	Comment string `json:"comment"`
}

// apiRate is POST /api/v1/cases/{case_no}/rating {"score": 1..5, "comment"}
// → 201; 409 once rated, 422 before the case has ended.
func (s *Server) apiRate(c *fiber.Ctx) error {
	var body rateBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	in := rating.Input{Comment: body.Comment}
	if body.Score != nil {
		in.Score = *body.Score
	}
	r, err := s.Ratings.Rate(ctx(c), actor(c), c.Params("no"), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(s.ratingDoc(loc(c), r))
}

// apiRating is GET /api/v1/cases/{case_no}/rating: the rating and its
// follow-up, for the applicant and the division's supervisors; 404 when
// not rated.
func (s *Server) apiRating(c *fiber.Ctx) error {
	r, err := s.Ratings.Get(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	d := s.ratingDoc(loc(c), r)
	if u := currentUser(c); d.FollowUp != nil && u != nil && u.Kind == portal.KindApplicant {
		// The return visit's note is the supervisors' working note; the
		// applicant reads what was done (as on the case page).
		d.FollowUp.VisitNote = ""
	}
	return c.JSON(d)
}

// rate is the case page's rating form: back to the case page, or the page
// again with the message next to the field and what was typed.
func (s *Server) rate(c *fiber.Ctx) error {
	no := c.Params("no")
	in := rating.Input{Comment: c.FormValue("comment")}
	in.Score, _ = strconv.Atoi(c.FormValue("score"))
	_, err := s.Ratings.Rate(ctx(c), actor(c), no, in)
	if formError(err) {
		d := &caseData{Failed: "rating", Input: map[string]string{"score": c.FormValue("score"), "comment": in.Comment}}
		return s.casePageWith(c, no, status(portal.ErrorCode(err)), d, err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/cases/"+no+"#rating")
}

// caseRating fills the case page's rating part for its applicant: their
// rating, or the form when the case has ended unrated.
func (s *Server) caseRating(c *fiber.Ctx, d *caseData, kase *portal.Case, final bool) error {
	if !final {
		return nil
	}
	r, err := s.Ratings.Of(ctx(c), kase.ID)
	if err != nil {
		return err
	}
	if r == nil {
		d.CanRate = true
		d.RatingMax = s.Ratings.Policy.CommentMax
		return nil
	}
	d.Rating = s.ratingDoc(loc(c), r)
	return nil
}

// followUpBody is POST /api/v1/cases/{case_no}/rating/follow-up/{step}.
type followUpBody struct {
	Note string `json:"note"`
}

// apiFollowUp is POST /api/v1/cases/{case_no}/rating/follow-up/{step}
// {"note"}: a supervisor records the return visit (visit) or what was done
// (close).
func (s *Server) apiFollowUp(c *fiber.Ctx) error {
	var body followUpBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	f, err := s.Ratings.FollowUp(ctx(c), actor(c), c.Params("no"), c.Params("step"), body.Note)
	if err != nil {
		return err
	}
	return c.JSON(s.followUpDoc(loc(c), f))
}

// ratingRate is one line of the rates: a division or a clerk.
type ratingRate struct {
	Key       string   `json:"key"` // the division's code, or the clerk's account id
	Name      string   `json:"name"`
	Rated     int      `json:"rated"`
	Good      int      `json:"good"`
	GoodRate  *float64 `json:"good_rate"`  // good / rated
	Ended     int      `json:"ended"`      // divisions: cases that ended there
	RatedRate *float64 `json:"rated_rate"` // divisions: rated / ended
	Closed    int      `json:"follow_ups_closed"`
	OnTime    int      `json:"follow_ups_on_time"`
	OnTimeR   *float64 `json:"on_time_rate"` // on time / closed
}

func ratio(a, b int) *float64 {
	if b == 0 {
		return nil
	}
	r := float64(a) / float64(b)
	return &r
}

func rateOf(c portal.RatingCount) ratingRate {
	return ratingRate{Key: c.Key, Name: c.Name, Rated: c.Rated, Good: c.Good, GoodRate: ratio(c.Good, c.Rated), Ended: c.Ended,
		RatedRate: ratio(c.Rated, c.Ended), Closed: c.FollowN, OnTime: c.OnTime, OnTimeR: ratio(c.OnTime, c.FollowN)}
}

// ratingsDoc is the supervisors' page and GET /api/v1/ratings.
type ratingsDoc struct {
	Total     ratingRate    `json:"total"`
	Divisions []ratingRate  `json:"divisions"`
	Clerks    []ratingRate  `json:"clerks"`
	FollowUps []followUpDoc `json:"follow_ups"`
	Done      string        `json:"-"`
	NoteMax   int           `json:"-"`
}

func (s *Server) ratingsDoc(c *fiber.Ctx) (*ratingsDoc, error) {
	o, err := s.Ratings.Overview(ctx(c), actor(c))
	if err != nil {
		return nil, err
	}
	l := loc(c)
	d := &ratingsDoc{Total: rateOf(o.Total), Divisions: []ratingRate{}, Clerks: []ratingRate{}, FollowUps: []followUpDoc{},
		NoteMax: s.Ratings.Policy.NoteMax}
	d.Total.Name = l.T("rating.total")
	for _, x := range o.Divisions {
		r := rateOf(x)
		r.Name = x.Key
		if div, ok := s.Authz.Divisions().Get(x.Key); ok {
			r.Name = div.Name
		}
		d.Divisions = append(d.Divisions, r)
	}
	for _, x := range o.Clerks {
		d.Clerks = append(d.Clerks, rateOf(x))
	}
	for i := range o.FollowUps {
		d.FollowUps = append(d.FollowUps, *s.followUpDoc(l, &o.FollowUps[i]))
	}
	return d, nil
}

func (s *Server) apiRatings(c *fiber.Ctx) error {
	d, err := s.ratingsDoc(c)
	if err != nil {
		return err
	}
	return c.JSON(d)
}

func (s *Server) ratingsPageWith(c *fiber.Ctx, status int, failed, typed string, ferr error) error {
	d, err := s.ratingsDoc(c)
	if err != nil {
		return err
	}
	d.Done = c.Query("done")
	p := s.newPage(c, "rating.oversight_title", d)
	if ferr != nil {
		p.Errors, p.Summary = fieldMessages(c, ferr)
		for i := range d.FollowUps {
			if d.FollowUps[i].CaseNo == failed {
				d.FollowUps[i].Typed = typed
				d.FollowUps[i].ErrorMsg = p.Errors["note"]
				if d.FollowUps[i].ErrorMsg == "" && len(p.Summary) > 0 {
					d.FollowUps[i].ErrorMsg = p.Summary[0].Message
				}
			}
		}
		for i := range p.Summary {
			p.Summary[i].Href = "#note-" + failed
		}
	}
	return s.write(c, status, "ratings", p)
}

func (s *Server) ratingsPage(c *fiber.Ctx) error {
	return s.ratingsPageWith(c, fiber.StatusOK, "", "", nil)
}

// followUp is the page's form of a follow-up step.
func (s *Server) followUp(c *fiber.Ctx) error {
	no, note := c.Params("no"), c.FormValue("note")
	_, err := s.Ratings.FollowUp(ctx(c), actor(c), no, c.Params("step"), note)
	if formError(err) {
		return s.ratingsPageWith(c, status(portal.ErrorCode(err)), no, note, err)
	}
	if err != nil {
		return err
	}
	return redirect(c, "/oversight/ratings?done="+c.Params("step")+"#fu-"+no)
}

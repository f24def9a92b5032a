package schooling

import (
	"context"
	"net/http"
	"strconv"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Endpoints is this service's API beyond its cases: the schools and windows
// anyone may read, and the district's cohort operations.
func (s *Service) Endpoints(e *workflow.Engine) []workflow.Endpoint {
	return []workflow.Endpoint{
		{Method: http.MethodGet, Path: "/schools", Public: true, Summary: "A district's schools and seats",
			Query: []string{"district", "year"}, Reply: map[string]any{"items": []schoolJSON{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				return apiSchools(ctx, e, r)
			}},
		{Method: http.MethodGet, Path: "/enrollment-windows", Public: true, Summary: "The districts' enrolment windows",
			Query: []string{"district", "year"}, Reply: map[string]any{"items": []windowJSON{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				return apiWindows(ctx, e, r)
			}},
		{Method: http.MethodPost, Path: "/enrollment-lists", Summary: "Publish a district's verified cases with their points",
			Body: CohortRequest{}, Status: http.StatusCreated, Reply: map[string]any{"id": int64(0), "published": 0}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				var q CohortRequest
				if err := r.Decode(&q); err != nil {
					return 0, nil, err
				}
				co, err := Publish(ctx, e, r.Actor, q)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusCreated, map[string]any{"id": co.ID, "published": co.Done}, nil
			}},
		{Method: http.MethodPost, Path: "/allocations", Summary: "Allocate the seats (deferred acceptance)",
			Body: CohortRequest{}, Status: http.StatusCreated, Reply: map[string]any{"id": int64(0), "summary": Summary{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				var q CohortRequest
				if err := r.Decode(&q); err != nil {
					return 0, nil, err
				}
				co, sum, err := Allocate(ctx, e, r.Actor, q)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusCreated, map[string]any{"id": co.ID, "summary": sum}, nil
			}},
		{Method: http.MethodGet, Path: "/indicators/school-placement", Public: true,
			Summary: "The plan's school placement indicator", Query: []string{"district", "year"},
			Reply: map[string]any{"items": []IndicatorRow{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				district, year, err := queryFilter(r)
				if err != nil {
					return 0, nil, err
				}
				if year == 0 {
					return 0, nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid",
						Fields: []portal.FieldError{{Field: "year", Rule: "required"}}, Labels: ServiceID + ".cohort"}
				}
				rows, err := Indicator(ctx, e, district, year)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, map[string]any{"items": rows}, nil
			}},
		{Method: http.MethodGet, Path: "/allocations/:id", Summary: "An allocation, with its seed, cutoffs and assignments",
			Reply: Allocation{}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				id, err := strconv.ParseInt(r.Param("id"), 10, 64)
				if err != nil || id <= 0 {
					return 0, nil, portal.NotFound(err)
				}
				a, err := AllocationOf(ctx, e, r.Actor, id)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, a, nil
			}},
	}
}

// queryFilter reads ?district=&year= (both optional but checked).
func queryFilter(r workflow.Request) (string, int, error) {
	district, year := r.Query("district"), 0
	var bad []portal.FieldError
	if district != "" && !districtRE.MatchString(district) {
		bad = append(bad, portal.FieldError{Field: "district", Rule: "district"})
	}
	if y := r.Query("year"); y != "" {
		n, err := strconv.Atoi(y)
		if err != nil || n < 2000 || n > 2100 {
			bad = append(bad, portal.FieldError{Field: "year", Rule: "year"})
		}
		year = n
	}
	if len(bad) > 0 {
		return "", 0, &portal.Error{Code: portal.EINVALID, Message: "error.invalid", Fields: bad, Labels: ServiceID + ".cohort"}
	}
	return district, year, nil
}

// schoolJSON is a school as the API shows it: its seats per grade.
type schoolJSON struct {
	Code      string         `json:"code"`
	Name      string         `json:"name"`
	District  string         `json:"district"`
	Catchment []string       `json:"catchment"`
	Seats     map[string]int `json:"seats"`
	Public    bool           `json:"public"`
}

func apiSchools(ctx context.Context, e *workflow.Engine, r workflow.Request) (int, any, error) {
	district, year, err := queryFilter(r)
	if err != nil {
		return 0, nil, err
	}
	if year == 0 {
		return 0, nil, &portal.Error{Code: portal.EINVALID, Message: "error.invalid",
			Fields: []portal.FieldError{{Field: "year", Rule: "required"}}, Labels: ServiceID + ".cohort"}
	}
	rows, err := e.Store.Schools(ctx, district, year)
	if err != nil {
		return 0, nil, err
	}
	items := []schoolJSON{}
	for _, s := range rows {
		if n := len(items); n > 0 && items[n-1].Code == s.Code {
			items[n-1].Seats[s.Grade] = s.Seats
			continue
		}
		items = append(items, schoolJSON{Code: s.Code, Name: s.Name, District: s.District, Catchment: s.Catchment,
			Seats: map[string]int{s.Grade: s.Seats}, Public: s.Public})
	}
	return http.StatusOK, map[string]any{"items": items}, nil
}

// windowJSON is a window as the API shows it.
type windowJSON struct {
	District        string `json:"district"`
	Year            int    `json:"year"`
	Opens           string `json:"opens"`
	Closes          string `json:"closes"`
	PublicationDays int    `json:"publication_days"`
	AppealDays      int    `json:"appeal_days"`
}

func apiWindows(ctx context.Context, e *workflow.Engine, r workflow.Request) (int, any, error) {
	district, year, err := queryFilter(r)
	if err != nil {
		return 0, nil, err
	}
	ws, err := e.Store.EnrollmentWindows(ctx, district, year)
	if err != nil {
		return 0, nil, err
	}
	items := []windowJSON{}
	for _, w := range ws {
		items = append(items, windowJSON{District: w.District, Year: w.Year, Opens: w.Opens, Closes: w.Closes,
			PublicationDays: w.PublicationDays, AppealDays: w.AppealDays})
	}
	return http.StatusOK, map[string]any{"items": items}, nil
}

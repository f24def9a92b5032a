package housing

import (
	"context"
	"net/http"

	"tzportal/portal/workflow"
)

// Endpoints is this service's API beyond its cases: the public notice and
// objections to it (anyone, no login; objections throttled per address),
// the plan's indicator, and a case's objections for the officers who
// decide them.
func (s *Service) Endpoints(e *workflow.Engine) []workflow.Endpoint {
	return append(drawEndpoints(e), []workflow.Endpoint{
		{Method: http.MethodGet, Path: "/public-notices", Public: true,
			Summary: "Households on public notice (公示)", Reply: map[string]any{"items": []Notice{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				items, err := s.Notices(ctx, e)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, map[string]any{"items": items}, nil
			}},
		{Method: http.MethodPost, Path: "/public-notices/:ref/objections", Public: true, PerMinute: s.set.Objections.PerMinute,
			Summary: "Object to a household on notice", Body: Objection{}, Status: http.StatusCreated,
			Reply: map[string]any{"ref": "", "received": true},
			Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				var o Objection
				if err := r.Decode(&o); err != nil {
					return 0, nil, err
				}
				ref := r.Param("ref")
				if err := s.Object(ctx, e, PublicActor(r.Actor.IP), ref, o); err != nil {
					return 0, nil, err
				}
				// Nothing of the case: that the objection is on file.
				return http.StatusCreated, map[string]any{"ref": ref, "received": true}, nil
			}},
		{Method: http.MethodGet, Path: "/indicators/housing-coverage", Public: true,
			Summary: "The plan's housing coverage indicator", Query: []string{"district", "year"},
			Reply: map[string]any{"items": []CoverageRow{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				district, year, err := coverageQuery(e, r)
				if err != nil {
					return 0, nil, err
				}
				rows, err := s.Coverage(ctx, e, district, year)
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, map[string]any{"items": rows}, nil
			}},
		{Method: http.MethodGet, Path: "/housing/cases/:no/objections",
			Summary: "A case's objections, for the officers who decide them", Reply: map[string]any{"items": []ObjectionView{}}, Handle: func(ctx context.Context, r workflow.Request) (int, any, error) {
				_, items, err := ObjectionsFor(ctx, e, r.Actor, r.Param("no"))
				if err != nil {
					return 0, nil, err
				}
				return http.StatusOK, map[string]any{"items": items}, nil
			}},
	}...)
}

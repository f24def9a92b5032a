package fsck

import (
	"context"
	"fmt"

	"tzportal/portal"
)

// CheckCohorts lists the cohort operations (a published list, an
// allocation) that were cut short: some of their cases moved, the rest
// wait. Running the same operation again resumes it.
func CheckCohorts(ctx context.Context, r portal.Reader) ([]Violation, error) {
	cos, err := r.UnfinishedCohorts(ctx)
	if err != nil {
		return nil, err
	}
	var out []Violation
	for _, c := range cos {
		out = append(out, Violation{Reason: fmt.Sprintf("cohort %d (%s of %s, district %s, %s) was cut short after %d of %d cases: run it again to resume",
			c.ID, c.Kind, c.Service, c.District, c.Scope, c.Done, c.Total)})
	}
	return out, nil
}

package matching

import (
	"fmt"
	"slices"
	"strings"
)

// Reason says why a child did not get a school it ranked above its place.
type Reason struct {
	School string `json:"school"`
	// Rank is the position of School in the child's preferences, from 1.
	Rank int `json:"rank"`
	// Cutoff is the school's cutoff; nil when the school had no seats.
	Cutoff *Priority `json:"cutoff"`
	// Own is the child's priority at the school, below Cutoff if any.
	Own Priority `json:"own"`
}

// Explain returns one Reason for every school c ranked above the one it got
// (for all of them when it got none), in the order of its preferences. In
// a stable result each of these schools is full and c is below its cutoff;
// when one is not, r does not come from Allocate on c, and Explain returns
// an error.
func (r *Result) Explain(c *Child) ([]Reason, error) {
	a, ok := r.assignment(c.CaseNo)
	if !ok {
		return nil, fmt.Errorf("matching: case %q is not in the result", c.CaseNo)
	}
	above := len(c.Preferences)
	if a.School != nil {
		above = slices.Index(c.Preferences, *a.School)
		if above < 0 || a.Rank != above+1 {
			return nil, fmt.Errorf("matching: case %q got school %q at rank %d, which its preferences do not say", c.CaseNo, *a.School, a.Rank)
		}
	}
	reasons := make([]Reason, 0, above)
	for i, code := range c.Preferences[:above] {
		s, ok := r.school(code)
		if !ok {
			return nil, fmt.Errorf("matching: case %q lists %q, which is not in the result", c.CaseNo, code)
		}
		own := c.PriorityAt(code)
		switch {
		case s.Seats == 0:
		case s.Cutoff == nil || s.Admitted < s.Seats:
			return nil, fmt.Errorf("matching: case %q ranked school %q above its place, and %q has free seats: not a stable result", c.CaseNo, code, code)
		case !s.Cutoff.Before(own):
			return nil, fmt.Errorf("matching: case %q ranked school %q above its place and is not below its cutoff: not a stable result", c.CaseNo, code)
		}
		reasons = append(reasons, Reason{School: code, Rank: i + 1, Cutoff: s.Cutoff, Own: own})
	}
	return reasons, nil
}

// assignment finds the assignment of a case by binary search.
func (r *Result) assignment(caseNo string) (Assignment, bool) {
	i, ok := slices.BinarySearchFunc(r.Assignments, caseNo, func(a Assignment, no string) int { return strings.Compare(a.CaseNo, no) })
	if !ok {
		return Assignment{}, false
	}
	return r.Assignments[i], true
}

// school finds the result of a school by binary search.
func (r *Result) school(code string) (SchoolResult, bool) {
	i, ok := slices.BinarySearchFunc(r.Schools, code, func(s SchoolResult, code string) int { return strings.Compare(s.Code, code) })
	if !ok {
		return SchoolResult{}, false
	}
	return r.Schools[i], true
}

// Summary counts the children of a result by the preference they got.
type Summary struct {
	Children    int `json:"children"`
	Assigned    int `json:"assigned"`
	FirstChoice int `json:"first_choice"`
	Top3        int `json:"top3"` // got one of their first three preferences
	Unassigned  int `json:"unassigned"`
	Seats       int `json:"seats"`
	FreeSeats   int `json:"free_seats"`
}

// Summary counts the children of r by the preference they got, and the
// seats left free.
func (r *Result) Summary() Summary {
	sum := Summary{Children: len(r.Assignments)}
	for _, a := range r.Assignments {
		if a.School == nil {
			sum.Unassigned++
			continue
		}
		sum.Assigned++
		if a.Rank == 1 {
			sum.FirstChoice++
		}
		if a.Rank <= 3 {
			sum.Top3++
		}
	}
	for _, s := range r.Schools {
		sum.Seats += s.Seats
		sum.FreeSeats += s.Seats - s.Admitted
	}
	return sum
}

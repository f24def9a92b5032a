package hukou

import (
	"testing"

	"tzportal/portal"
	"tzportal/portal/validate"
)

func TestOverlappingPeriodsCountOnce(t *testing.T) {
	for _, tc := range []struct {
		periods []period
		want    int
	}{
		{[]period{{City: "320100", From: "2018-01-01", To: "2018-12-31"}}, 12},
		// The same months written under two cities count once.
		{[]period{{City: "320100", From: "2018-01-01", To: "2018-12-31"}, {City: "310100", From: "2018-06-01", To: "2019-05-31"}}, 17},
		{[]period{{City: "310100", From: "2018-06-01", To: "2018-08-31"}, {City: "320100", From: "2018-01-01", To: "2018-12-31"}}, 12},
		// Back to back: one stretch of residence.
		{[]period{{City: "320100", From: "2018-01-15", To: "2018-03-31"}, {City: "310100", From: "2018-04-01", To: "2018-05-14"}}, 4},
		// Apart: each on its own.
		{[]period{{City: "320100", From: "2018-01-01", To: "2018-03-31"}, {City: "310100", From: "2019-01-01", To: "2019-03-31"}}, 6},
		// Months end as the law ends them (民法典 art. 202), as the residence
		// permit counts: from 31 August, six months are reached on 28 February.
		{[]period{{City: "320100", From: "2025-08-31", To: "2026-02-27"}}, 6},
		{[]period{{City: "320100", From: "2025-08-31", To: "2026-02-26"}}, 5},
		{[]period{{City: "320100", From: "2027-08-31", To: "2028-02-27"}}, 5}, // a leap year: 29 February
		{[]period{{City: "320100", From: "2027-08-31", To: "2028-02-28"}}, 6},
	} {
		if got := deltaMonths(tc.periods); got != tc.want {
			t.Errorf("%v: %d months, want %d", tc.periods, got, tc.want)
		}
	}
}

// TestABugIsNotTheApplicantsMistake: a validator failure that is not the
// form's (a tag without a translation) comes back as the error it is,
// never as a 422 about the applicant's answers.
func TestABugIsNotTheApplicantsMistake(t *testing.T) {
	v := validate.New(validate.Options{})
	fields, err := fieldErrors(v.Struct(struct {
		Mail string `json:"mail" validate:"email"`
	}{"x"}))
	if portal.ErrorCode(err) != portal.EINTERNAL || fields != nil {
		t.Errorf("an unknown tag: %v %v, want EINTERNAL", fields, err)
	}
	fields, err = fieldErrors(v.Struct(checkRental{}))
	if err != nil || len(fields) != 1 || fields[0].Field != "lease_no" || fields[0].Rule != "required" {
		t.Errorf("a missing answer: %v %v", fields, err)
	}
}

package hukou

import "testing"

func TestOverlappingPeriodsCountOnce(t *testing.T) {
	for _, tc := range []struct {
		periods []Period
		want    int
	}{
		{[]Period{{City: "320100", From: "2018-01-01", To: "2018-12-31"}}, 12},
		// The same months written under two cities count once.
		{[]Period{{City: "320100", From: "2018-01-01", To: "2018-12-31"}, {City: "310100", From: "2018-06-01", To: "2019-05-31"}}, 17},
		{[]Period{{City: "310100", From: "2018-06-01", To: "2018-08-31"}, {City: "320100", From: "2018-01-01", To: "2018-12-31"}}, 12},
		// Back to back: one stretch of residence.
		{[]Period{{City: "320100", From: "2018-01-15", To: "2018-03-31"}, {City: "310100", From: "2018-04-01", To: "2018-05-14"}}, 4},
		// Apart: each on its own.
		{[]Period{{City: "320100", From: "2018-01-01", To: "2018-03-31"}, {City: "310100", From: "2019-01-01", To: "2019-03-31"}}, 6},
	} {
		if got := deltaMonths(tc.periods); got != tc.want {
			t.Errorf("%v: %d months, want %d", tc.periods, got, tc.want)
		}
	}
}

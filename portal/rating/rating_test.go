package rating_test

import (
	"testing"
	"testing/fstest"

	"tzportal/policies"
	"tzportal/portal/rating"
)

// TestLoadPolicy: the shipped settings load; a file that leaves one out or
// contradicts itself stops start-up with the file's name.
func TestLoadPolicy(t *testing.T) {
	p, err := rating.LoadPolicy(policies.FS)
	if err != nil {
		t.Fatal(err)
	}
	if p.FollowUpMax != 2 || p.GoodMin != 4 || p.ReturnVisit.N != 1 || !p.ReturnVisit.Working || p.Rectification.N != 15 {
		t.Errorf("policies/ratings.yaml: %+v", p)
	}
	for name, src := range map[string]string{
		"no deadlines":      "comment_max: 500\nnote_max: 1000\ngood_min: 4\nfollow_up_max: 2\n",
		"bad and good meet": "comment_max: 500\nnote_max: 1000\ngood_min: 3\nfollow_up_max: 3\nreturn_visit: 1 working day\nrectification: 15 working days\n",
		"unknown key":       "comment_max: 500\nnote_max: 1000\ngood_min: 4\nfollow_up_max: 2\nreturn_visit: 1 working day\nrectification: 15 working days\nvisit: 2\n",
		"no comment length": "note_max: 1000\ngood_min: 4\nfollow_up_max: 2\nreturn_visit: 1 working day\nrectification: 15 working days\n",
	} {
		if _, err := rating.LoadPolicy(fstest.MapFS{"ratings.yaml": {Data: []byte(src)}}); err == nil {
			t.Errorf("%s: loaded", name)
		}
	}
}

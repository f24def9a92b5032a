package schooling

import (
	"context"
	"encoding/json"
	"strconv"

	"tzportal/portal"
	"tzportal/portal/workflow"
)

// Options offers the schools a child may choose (field preferences): the
// district's schools of the form's year and grade, those whose catchment
// holds the family's division first (workflow.Optioner).
func (s *Service) Options(ctx context.Context, r portal.Reader, form json.RawMessage, field string) ([]workflow.Option, error) {
	if field != fieldPreferences || len(form) == 0 {
		return nil, nil
	}
	var f struct {
		Year     json.Number `json:"year"`
		Grade    string      `json:"grade"`
		Division string      `json:"division"`
	}
	if json.Unmarshal(form, &f) != nil || len(f.Division) != 9 {
		return nil, nil
	}
	year, err := strconv.Atoi(f.Year.String())
	if err != nil {
		return nil, nil
	}
	schools, err := r.Schools(ctx, f.Division[:6], year)
	if err != nil {
		return nil, err
	}
	var near, other []workflow.Option
	for _, sc := range schools {
		if sc.Grade != f.Grade {
			continue
		}
		o := workflow.Option{Value: sc.Code, Label: sc.Name + "（" + sc.Code + "）"}
		if sc.Serves(f.Division) {
			o.Group = ServiceID + ".options.catchment"
			near = append(near, o)
		} else {
			o.Group = ServiceID + ".options.other"
			other = append(other, o)
		}
	}
	return append(near, other...), nil
}

package housing

import (
	"encoding/json"

	"tzportal/portal"
	"tzportal/portal/lottery"
)

// Assess applies the rules to a form as submitting it would (in clear),
// given the number of the permit the portal holds ("" if none).
func (s *Service) Assess(form json.RawMessage, permitHeld string) (*Assessment, error) {
	f, err := decode(form, false)
	if err != nil {
		return nil, err
	}
	f.normalize()
	return s.assess(f, permitHeld), nil
}

// Refusal is the refusal of an assessment (nil when eligible).
func (a *Assessment) Refusal() *portal.Error { return a.refusal() }

// Number is number, for its table test.
var Number = number

// StoreDraw is a draw's frozen part through its record's data and back.
func StoreDraw(d lottery.Draw, cases []string) (lottery.Draw, []string, []byte, error) {
	dd := drawData{Draw: d, Cases: cases}
	b, err := dd.encode()
	if err != nil {
		return lottery.Draw{}, nil, nil, err
	}
	back, err := decodeDraw(b)
	return back.Draw, back.Cases, b, err
}

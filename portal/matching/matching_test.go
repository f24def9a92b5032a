package matching_test

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"tzportal/portal/matching"
)

const (
	tb0 = "0000000000000000000000000000000000000000000000000000000000000000"
	tb1 = "1111111111111111111111111111111111111111111111111111111111111111"
	tb2 = "2222222222222222222222222222222222222222222222222222222222222222"
	tb3 = "3333333333333333333333333333333333333333333333333333333333333333"
	tb4 = "4444444444444444444444444444444444444444444444444444444444444444"
)

// worked is a small district worked out by hand in TestWorkedExample.
func worked() matching.Input {
	return matching.Input{
		Schools: []matching.School{{Code: "B", Seats: 2}, {Code: "A", Seats: 1}, {Code: "C", Seats: 0}},
		Children: []matching.Child{
			{CaseNo: "SE3212022027000003", Preferences: []string{"C", "A", "B"}, Points: 80, Tiebreak: tb3},
			{CaseNo: "SE3212022027000001", Preferences: []string{"A", "B"}, Catchment: []string{"B"}, Points: 50, Tiebreak: tb1},
			{CaseNo: "SE3212022027000002", Preferences: []string{"A"}, Catchment: []string{"A"}, Points: 10, Tiebreak: tb2},
			{CaseNo: "SE3212022027000005", Preferences: []string{"B"}, Points: 50, Tiebreak: tb4},
			{CaseNo: "SE3212022027000004", Preferences: []string{"B", "A"}, Points: 50, Tiebreak: tb0},
		},
	}
}

// At A the order is 002 (catchment), 003 (80 points), 004 and 001 (50
// points, tiebreak 0… before 1…). At B it is 001 (catchment), 003, 004,
// 005. C has no seats. 001 is held at A, then displaced by 002 and held
// at B; 003 is rejected by C and A and held at B; 004 and 005 are rejected
// by the full B, and 004 by A too.
func TestWorkedExample(t *testing.T) {
	in := worked()
	res, err := matching.Allocate(in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schools":[` +
		`{"code":"A","seats":1,"admitted":1,"cutoff":{"catchment":true,"points":10,"tiebreak":"` + tb2 + `"}},` +
		`{"code":"B","seats":2,"admitted":2,"cutoff":{"catchment":false,"points":80,"tiebreak":"` + tb3 + `"}},` +
		`{"code":"C","seats":0,"admitted":0,"cutoff":null}],` +
		`"assignments":[` +
		`{"case_no":"SE3212022027000001","school":"B","rank":2},` +
		`{"case_no":"SE3212022027000002","school":"A","rank":1},` +
		`{"case_no":"SE3212022027000003","school":"B","rank":3},` +
		`{"case_no":"SE3212022027000004","school":null,"rank":0},` +
		`{"case_no":"SE3212022027000005","school":null,"rank":0}]}`
	if string(got) != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}

	c3 := in.Children[0]
	reasons, err := res.Explain(&c3)
	if err != nil {
		t.Fatal(err)
	}
	wantReasons := []matching.Reason{
		{School: "C", Rank: 1, Cutoff: nil, Own: matching.Priority{Points: 80, Tiebreak: tb3}},
		{School: "A", Rank: 2, Cutoff: &matching.Priority{Catchment: true, Points: 10, Tiebreak: tb2}, Own: matching.Priority{Points: 80, Tiebreak: tb3}},
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Errorf("Explain(003) = %+v, want %+v", reasons, wantReasons)
	}
	c4 := in.Children[4]
	reasons, err = res.Explain(&c4)
	if err != nil {
		t.Fatal(err)
	}
	wantReasons = []matching.Reason{
		{School: "B", Rank: 1, Cutoff: &matching.Priority{Points: 80, Tiebreak: tb3}, Own: matching.Priority{Points: 50, Tiebreak: tb0}},
		{School: "A", Rank: 2, Cutoff: &matching.Priority{Catchment: true, Points: 10, Tiebreak: tb2}, Own: matching.Priority{Points: 50, Tiebreak: tb0}},
	}
	if !reflect.DeepEqual(reasons, wantReasons) {
		t.Errorf("Explain(004) = %+v, want %+v", reasons, wantReasons)
	}
	c2 := in.Children[2]
	if reasons, err := res.Explain(&c2); err != nil || len(reasons) != 0 {
		t.Errorf("Explain(002) = %+v, %v; want nothing", reasons, err)
	}

	wantSum := matching.Summary{Children: 5, Assigned: 3, FirstChoice: 1, Top3: 3, Unassigned: 2, Seats: 3, FreeSeats: 0}
	if sum := res.Summary(); sum != wantSum {
		t.Errorf("Summary = %+v, want %+v", sum, wantSum)
	}
}

func TestPriority(t *testing.T) {
	c := matching.Child{Catchment: []string{"A", "B"}, Points: 40, Tiebreak: tb1}
	if p := c.PriorityAt("B"); p != (matching.Priority{Catchment: true, Points: 40, Tiebreak: tb1}) {
		t.Errorf("PriorityAt(B) = %+v", p)
	}
	if p := c.PriorityAt("C"); p.Catchment {
		t.Errorf("PriorityAt(C) = %+v", p)
	}
	ordered := []matching.Priority{
		{Catchment: true, Points: 0, Tiebreak: tb4},
		{Catchment: false, Points: 100, Tiebreak: tb0},
		{Catchment: false, Points: 50, Tiebreak: tb0},
		{Catchment: false, Points: 50, Tiebreak: tb1},
		{Catchment: false, Points: -1, Tiebreak: tb0},
	}
	for i, p := range ordered {
		for j, q := range ordered {
			if p.Before(q) != (i < j) || (p.Compare(q) < 0) != (i < j) || (p.Compare(q) == 0) != (i == j) {
				t.Errorf("%+v vs %+v: Before %v, Compare %d", p, q, p.Before(q), p.Compare(q))
			}
		}
	}
}

// The expected values come from `printf '%s' 'SEED:CASE' | sha256sum`.
func TestTiebreakAndCommitment(t *testing.T) {
	tests := []struct{ seed, caseNo, tiebreak, commitment string }{
		{"0123456789abcdef0123456789abcdef", "SE3212022027000001",
			"041a75abd0b77710afbe9acc82a8fdc78968ebabc8b6309aadfe51d54de83245",
			"3eb1bd439947eb762998e566ccc2e099c791118b2f40579cc4f7da2b5061b7f9"},
		{"deadbeefdeadbeefdeadbeefdeadbeef00", "SE3212022027000042",
			"796d718912e37ac30b20290729df28a7cc6ee3dae1a2e0a321003a6c25292553",
			"a35535ff619720d8b312959a681e73d20c8e9098fd87f92d7770d7e705cebd27"},
	}
	for _, tt := range tests {
		if got := matching.Tiebreak(tt.seed, tt.caseNo); got != tt.tiebreak {
			t.Errorf("Tiebreak(%q, %q) = %s, want %s", tt.seed, tt.caseNo, got, tt.tiebreak)
		}
		if got := matching.Commitment(tt.seed); got != tt.commitment {
			t.Errorf("Commitment(%q) = %s, want %s", tt.seed, got, tt.commitment)
		}
	}
	if got := matching.Commitment(""); got != "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" {
		t.Errorf("Commitment(\"\") = %s", got)
	}
}

func TestValidSeed(t *testing.T) {
	tests := []struct {
		seed string
		ok   bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("f", 128), true},
		{strings.Repeat("0", 64), true},
		{"0123456789abcdef0123456789abcde", false},
		{strings.Repeat("a", 129), false},
		{"0123456789ABCDEF0123456789abcdef", false},
		{"0123456789abcdef0123456789abcdeg", false},
		{"0123456789abcdef 0123456789abcdef", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := matching.ValidSeed(tt.seed); got != tt.ok {
			t.Errorf("ValidSeed(%q) = %v, want %v", tt.seed, got, tt.ok)
		}
	}
}

func TestAllocateRejects(t *testing.T) {
	tests := []struct {
		name   string
		change func(*matching.Input)
		want   string
	}{
		{"duplicate case", func(in *matching.Input) { in.Children[1].CaseNo = in.Children[3].CaseNo }, "listed twice"},
		{"empty case", func(in *matching.Input) { in.Children[2].CaseNo = "" }, "without a case number"},
		{"unknown preference", func(in *matching.Input) { in.Children[1].Preferences = []string{"A", "D"} }, `"D", which is not a school`},
		{"duplicate preference", func(in *matching.Input) { in.Children[0].Preferences = []string{"C", "A", "C"} }, `school "C" twice`},
		{"no preferences", func(in *matching.Input) { in.Children[3].Preferences = nil }, "lists no school"},
		{"negative seats", func(in *matching.Input) { in.Schools[1].Seats = -1 }, "-1 seats"},
		{"duplicate school", func(in *matching.Input) { in.Schools[2].Code = "A" }, `school "A" is listed twice`},
		{"empty school code", func(in *matching.Input) { in.Schools[0].Code = "" }, "without a code"},
		{"uppercase tiebreak", func(in *matching.Input) { in.Children[0].Tiebreak = strings.ToUpper(tb3[:63]) + "A" }, "not 64 lowercase hex"},
		{"short tiebreak", func(in *matching.Input) { in.Children[0].Tiebreak = tb3[:63] }, "not 64 lowercase hex"},
		{"long tiebreak", func(in *matching.Input) { in.Children[0].Tiebreak = tb3 + "3" }, "not 64 lowercase hex"},
		{"non-hex tiebreak", func(in *matching.Input) { in.Children[0].Tiebreak = tb3[:63] + "g" }, "not 64 lowercase hex"},
		{"same points and tiebreak", func(in *matching.Input) { in.Children[3].Tiebreak = tb1 }, "same points and tiebreak"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := worked()
			tt.change(&in)
			res, err := matching.Allocate(in)
			if !errors.Is(err, matching.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Allocate = %v, %v; want an ErrInvalid with %q", res, err, tt.want)
			}
		})
	}
	// Of several errors, the one of the first case, in any input order.
	rng := rand.New(rand.NewPCG(8, 8))
	for range 20 {
		in := worked()
		in.Children[3].Preferences = []string{"B", "D"}      // 005
		in.Children[1].Preferences = []string{"A", "B", "A"} // 001
		in.Children[2].Tiebreak = "x"                        // 002, an earlier check
		in.Children[0].Tiebreak = "y"                        // 003
		rng.Shuffle(len(in.Children), func(i, j int) { in.Children[i], in.Children[j] = in.Children[j], in.Children[i] })
		if _, err := matching.Allocate(in); err == nil || !strings.Contains(err.Error(), `case "SE3212022027000002": tiebreak "x"`) {
			t.Fatalf("several errors: %v", err)
		}
		for i := range in.Children {
			in.Children[i].Tiebreak = strings.Repeat(in.Children[i].CaseNo[17:], 64)
		}
		if _, err := matching.Allocate(in); err == nil || !strings.Contains(err.Error(), `case "SE3212022027000001" lists school "A" twice`) {
			t.Fatalf("several errors: %v", err)
		}
	}
	// The same tiebreak with different points is no ambiguity.
	in := worked()
	in.Children[2].Tiebreak = tb3
	if _, err := matching.Allocate(in); err != nil {
		t.Errorf("same tiebreak, different points: %v", err)
	}
	// Nor is a catchment school that takes no part.
	in = worked()
	in.Children[2].Catchment = []string{"A", "Z"}
	if _, err := matching.Allocate(in); err != nil {
		t.Errorf("unknown catchment school: %v", err)
	}
}

func TestAllocateEmpty(t *testing.T) {
	res, err := matching.Allocate(matching.Input{})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(res)
	if string(got) != `{"schools":[],"assignments":[]}` {
		t.Errorf("empty input: %s", got)
	}
}

func TestExplainRejectsUnstableResults(t *testing.T) {
	a, b := "A", "B"
	child := matching.Child{CaseNo: "1", Preferences: []string{"A", "B"}, Points: 10, Tiebreak: tb1}
	cutoff := func(p matching.Priority) *matching.Priority { return &p }
	tests := []struct {
		name string
		res  matching.Result
		want string
	}{
		{"free seat above", matching.Result{
			Schools:     []matching.SchoolResult{{Code: "A", Seats: 2, Admitted: 1}, {Code: "B", Seats: 1, Admitted: 1, Cutoff: cutoff(matching.Priority{Points: 5, Tiebreak: tb0})}},
			Assignments: []matching.Assignment{{CaseNo: "1", School: &b, Rank: 2}},
		}, "free seats"},
		{"above the cutoff", matching.Result{
			Schools:     []matching.SchoolResult{{Code: "A", Seats: 1, Admitted: 1, Cutoff: cutoff(matching.Priority{Points: 5, Tiebreak: tb0})}},
			Assignments: []matching.Assignment{{CaseNo: "1"}},
		}, "not below its cutoff"},
		{"not in the result", matching.Result{
			Assignments: []matching.Assignment{{CaseNo: "2"}},
		}, "not in the result"},
		{"school not in the result", matching.Result{
			Assignments: []matching.Assignment{{CaseNo: "1", School: &b, Rank: 2}},
		}, `"A", which is not in the result`},
		{"wrong rank", matching.Result{
			Schools:     []matching.SchoolResult{{Code: "A", Seats: 1, Admitted: 1}},
			Assignments: []matching.Assignment{{CaseNo: "1", School: &a, Rank: 2}},
		}, "at rank 2"},
	}
	for _, tt := range tests {
		if _, err := tt.res.Explain(&child); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Explain = %v, want an error with %q", tt.name, err, tt.want)
		}
	}
}

func TestGenerate(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, size := range []struct{ children, schools, prefs int }{{5000, 50, 3}, {2000, 300, 5}, {100, 2, 4}, {10, 1, 3}} {
		in := matching.Generate(rng, size.children, size.schools, size.prefs)
		if len(in.Children) != size.children || len(in.Schools) != size.schools {
			t.Fatalf("%+v: %d children, %d schools", size, len(in.Children), len(in.Schools))
		}
		seats := 0
		for _, s := range in.Schools {
			seats += s.Seats
		}
		if seats < size.children*89/100 || seats > size.children {
			t.Errorf("%+v: %d seats", size, seats)
		}
		withCatchment := 0
		for i, c := range in.Children {
			if len(c.Preferences) != min(size.prefs, size.schools) {
				t.Fatalf("%+v: %s has %d preferences", size, c.CaseNo, len(c.Preferences))
			}
			if len(c.Catchment) < 1 || len(c.Catchment) > 2 {
				t.Fatalf("%+v: %s has catchment %v", size, c.CaseNo, c.Catchment)
			}
			if c.Points < 0 || c.Points > 100 || c.Points%5 != 0 {
				t.Fatalf("%+v: %s has %d points", size, c.CaseNo, c.Points)
			}
			if len(c.CaseNo) != 18 || !strings.HasPrefix(c.CaseNo, "SE3212022027") || (i > 0 && c.CaseNo <= in.Children[i-1].CaseNo) {
				t.Fatalf("%+v: case number %q", size, c.CaseNo)
			}
			for _, s := range c.Catchment {
				if c.PriorityAt(s).Catchment && contains(c.Preferences, s) {
					withCatchment++
					break
				}
			}
		}
		if size.schools > 2 && withCatchment < size.children*3/4 {
			t.Errorf("%+v: only %d children list a catchment school", size, withCatchment)
		}
		// Allocate accepts what Generate makes.
		if _, err := matching.Allocate(in); err != nil {
			t.Fatalf("%+v: %v", size, err)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

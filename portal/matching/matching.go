// Package matching allocates school places to migrant children in Taizhou:
// the grade-1 and grade-7 seats of a district, by child-proposing deferred
// acceptance (Gale–Shapley) with one tiebreak per child drawn from a
// published seed.
//
// The rules are a public contract. A school ranks the children who apply to
// it by Priority: children in its catchment first, then more points first,
// then the lower tiebreak first. Children propose in order of their
// preferences; each school holds its best proposers up to its seats and
// rejects the rest. The outcome is the child-optimal stable matching: no
// child would rather have a school that has a free seat or holds a child it
// ranks lower, and every child likes it at least as much as any other
// stable matching. It does not depend on the order of the input, so anyone
// who re-runs Allocate on the published input gets byte-identical JSON.
package matching

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// School is a school that offers places, by its code.
type School struct {
	Code  string `json:"code"`
	Seats int    `json:"seats"`
}

// Child is one application for a place.
type Child struct {
	CaseNo string `json:"case_no"`
	// Preferences are school codes, the most wanted first.
	Preferences []string `json:"preferences"`
	// Catchment are the codes of the schools whose catchment holds the
	// child's division. Codes of schools not in the input have no effect.
	Catchment []string `json:"catchment"`
	Points    int      `json:"points"`
	// Tiebreak is Tiebreak(seed, CaseNo): 64 lowercase hex digits.
	Tiebreak string `json:"tiebreak"`
}

// Priority is how a school ranks a child: catchment first, then more points,
// then the lower tiebreak.
type Priority struct {
	Catchment bool   `json:"catchment"`
	Points    int    `json:"points"`
	Tiebreak  string `json:"tiebreak"`
}

// Compare returns a negative number when a school ranks p above q, a
// positive one when it ranks q above p, and 0 when they are equal.
func (p Priority) Compare(q Priority) int {
	if p.Catchment != q.Catchment {
		if p.Catchment {
			return -1
		}
		return 1
	}
	if p.Points != q.Points {
		return cmp.Compare(q.Points, p.Points)
	}
	return strings.Compare(p.Tiebreak, q.Tiebreak)
}

// Before reports whether a school ranks p above q.
func (p Priority) Before(q Priority) bool { return p.Compare(q) < 0 }

// PriorityAt returns the child's priority at the school with code school.
func (c *Child) PriorityAt(school string) Priority {
	return Priority{Catchment: slices.Contains(c.Catchment, school), Points: c.Points, Tiebreak: c.Tiebreak}
}

// Input is everything an allocation depends on. It is published with the
// seed the tiebreaks were drawn from.
type Input struct {
	Schools  []School `json:"schools"`
	Children []Child  `json:"children"`
}

// Assignment is the place one child got.
type Assignment struct {
	CaseNo string `json:"case_no"`
	// School is the code of the school, nil (JSON null) when the child got
	// none of its preferences. Assignments to the same school share the
	// pointer.
	School *string `json:"school"`
	// Rank is the position of School in the child's preferences, from 1;
	// 0 when the child is unassigned.
	Rank int `json:"rank"`
}

// SchoolResult is the outcome at one school.
type SchoolResult struct {
	Code     string `json:"code"`
	Seats    int    `json:"seats"`
	Admitted int    `json:"admitted"`
	// Cutoff is the priority of the lowest-ranked child admitted when the
	// school is full. It is nil when seats remain (anyone who applied got
	// in) and when the school has no seats.
	Cutoff *Priority `json:"cutoff"`
}

// Result is the outcome of an allocation: schools sorted by code,
// assignments sorted by case number.
type Result struct {
	Schools     []SchoolResult `json:"schools"`
	Assignments []Assignment   `json:"assignments"`
}

// ErrInvalid is wrapped by every error Allocate returns for a bad input.
var ErrInvalid = errors.New("matching: invalid input")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// maxChildren keeps the keys rank and rank+n within an int32.
const maxChildren = math.MaxInt32 / 2

// Allocate runs child-proposing deferred acceptance on in.
//
// It checks the input first: school codes and case numbers are non-empty
// and unique, seats are not negative, every child lists one or more
// distinct schools of the input, and every tiebreak is 64 lowercase hex
// digits. Two children with the same points and tiebreak are an error too:
// no school could tell them apart. Which error it reports does not depend on
// the order of the input either.
//
// Every child is ranked once by points and tiebreak; a child's key at a
// school is that rank, plus the number of children when the school's
// catchment does not hold it. Each school keeps the keys it holds in a
// max-heap of at most its seats.
func Allocate(in Input) (*Result, error) {
	m, n := len(in.Schools), len(in.Children)
	if n > maxChildren {
		return nil, invalid("%d children, more than %d", n, maxChildren)
	}

	// Schools by code: a school's index is its position in code order.
	schools := slices.Clone(in.Schools)
	slices.SortFunc(schools, func(a, b School) int { return strings.Compare(a.Code, b.Code) })
	index := make(map[string]int32, m)
	for s, sc := range schools {
		switch {
		case sc.Code == "":
			return nil, invalid("a school without a code")
		case s > 0 && schools[s-1].Code == sc.Code:
			return nil, invalid("school %q is listed twice", sc.Code)
		case sc.Seats < 0:
			return nil, invalid("school %q has %d seats", sc.Code, sc.Seats)
		}
		index[sc.Code] = int32(s)
	}

	// Children stay in input order, where they are read fast; pos[i] is the
	// position of child i in case order, for the result and for the errors:
	// of several, Allocate reports the one of the first case.
	cases := sortCases(in.Children)
	pos := make([]int32, n)
	for j, c := range cases {
		switch {
		case c.no == "":
			return nil, invalid("a child without a case number")
		case j > 0 && cases[j-1].no == c.no:
			return nil, invalid("case %q is listed twice", c.no)
		}
		pos[c.i] = int32(j)
	}

	// Rank every child once: more points first, then the lower tiebreak.
	// Tiebreaks have equal length, so their first 16 hex digits read as a
	// number order them as the strings do, but for a tie on those digits.
	type rankRef struct {
		points int
		hi     uint64
		i, pos int32
	}
	refs := make([]rankRef, n)
	var bad firstError
	for i := range in.Children {
		c := &in.Children[i]
		hi, ok := parseTiebreak(c.Tiebreak)
		if !ok {
			bad.note(pos[i], "case %q: tiebreak %q is not 64 lowercase hex digits", c.CaseNo, c.Tiebreak)
		}
		refs[i] = rankRef{c.Points, hi, int32(i), pos[i]}
	}
	if bad.err != nil {
		return nil, bad.err
	}
	slices.SortFunc(refs, func(a, b rankRef) int {
		if a.points != b.points {
			return cmp.Compare(b.points, a.points)
		}
		if a.hi != b.hi {
			return cmp.Compare(a.hi, b.hi)
		}
		if c := strings.Compare(in.Children[a.i].Tiebreak, in.Children[b.i].Tiebreak); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	rank := make([]int32, n)
	byRank := make([]int32, n)
	for r, x := range refs {
		if r > 0 {
			y := refs[r-1]
			if x.points == y.points && x.hi == y.hi && in.Children[x.i].Tiebreak == in.Children[y.i].Tiebreak {
				return nil, invalid("cases %q and %q have the same points and tiebreak", in.Children[y.i].CaseNo, in.Children[x.i].CaseNo)
			}
		}
		rank[x.i] = int32(r)
		byRank[r] = x.i
	}

	// Flatten the preferences into school indexes and keys.
	total := 0
	for i := range in.Children {
		total += len(in.Children[i].Preferences)
	}
	if total > math.MaxInt32 {
		return nil, invalid("%d preferences, more than %d", total, math.MaxInt32)
	}
	start := make([]int32, n+1)
	prefSchool := make([]int32, 0, total)
	prefKey := make([]int32, 0, total)
	applicants := make([]int32, m)
	seen := make([]int32, m) // seen[s] == i+1: child i listed school s
children:
	for i := range in.Children {
		c := &in.Children[i]
		start[i] = int32(len(prefSchool))
		if len(c.Preferences) == 0 {
			bad.note(pos[i], "case %q lists no school", c.CaseNo)
		}
		for _, code := range c.Preferences {
			s, ok := index[code]
			if !ok {
				bad.note(pos[i], "case %q lists %q, which is not a school", c.CaseNo, code)
				continue children
			}
			if seen[s] == int32(i+1) {
				bad.note(pos[i], "case %q lists school %q twice", c.CaseNo, code)
				continue children
			}
			seen[s] = int32(i + 1)
			applicants[s]++
			key := rank[i] + int32(n)
			for _, catch := range c.Catchment {
				if catch == code {
					key = rank[i]
					break
				}
			}
			prefSchool = append(prefSchool, s)
			prefKey = append(prefKey, key)
		}
	}
	if bad.err != nil {
		return nil, bad.err
	}
	start[n] = int32(len(prefSchool))

	// One heap per school, in one slice. A school never holds more than its
	// seats, nor more than the children who list it.
	off := make([]int32, m+1)
	capa := make([]int32, m)
	for s := range schools {
		capa[s] = int32(min(schools[s].Seats, int(applicants[s])))
		off[s+1] = off[s] + capa[s]
	}
	held := make([]int32, off[m])
	size := make([]int32, m)
	next := make([]int32, n) // after a child is held: one past its held proposal
	child := func(key int32) int32 {
		if key >= int32(n) {
			key -= int32(n)
		}
		return byRank[key]
	}

	for i := range n {
		c, p := int32(i), start[i]
		for p < start[c+1] {
			s, key := prefSchool[p], prefKey[p]
			p++
			h := held[off[s] : off[s]+capa[s]]
			if l := size[s]; l < capa[s] {
				h[l] = key
				siftUp(h, l)
				size[s] = l + 1
				next[c] = p
				break
			}
			if len(h) == 0 || key > h[0] {
				continue
			}
			out := h[0]
			h[0] = key
			siftDown(h)
			next[c] = p
			c = child(out)
			p = next[c]
		}
	}

	// The result, in case and code order.
	res := &Result{Schools: make([]SchoolResult, m), Assignments: make([]Assignment, n)}
	codes := make([]string, m)
	cutoffs := make([]Priority, m)
	for j, c := range cases {
		res.Assignments[j].CaseNo = c.no
	}
	for s, sc := range schools {
		codes[s] = sc.Code
		h := held[off[s] : off[s]+size[s]]
		sr := SchoolResult{Code: sc.Code, Seats: sc.Seats, Admitted: len(h)}
		if sc.Seats > 0 && len(h) == sc.Seats {
			worst := &in.Children[child(h[0])]
			cutoffs[s] = Priority{Catchment: h[0] < int32(n), Points: worst.Points, Tiebreak: worst.Tiebreak}
			sr.Cutoff = &cutoffs[s]
		}
		res.Schools[s] = sr
		for _, key := range h {
			i := child(key)
			a := &res.Assignments[pos[i]]
			a.School = &codes[s]
			a.Rank = int(next[i] - start[i])
		}
	}
	return res, nil
}

// firstError keeps the error of the child first in case order.
type firstError struct {
	err error
	pos int32
}

// note records an error about the child at position pos in case order.
func (f *firstError) note(pos int32, format string, args ...any) {
	if f.err == nil || pos < f.pos {
		f.err, f.pos = invalid(format, args...), pos
	}
}

// caseRef is a child's case number, its index in the input, and a key
// that orders case numbers as strings do, unless it ties.
type caseRef struct {
	key uint64
	no  string
	i   int32
}

// sortCases returns the case numbers of children in order. Case numbers
// tend to share a long prefix (SE3212022027…), so each gets a key: the 8
// bytes after the prefix all share, as a big-endian number, zero-padded.
// Keys that differ order their strings; only equal keys need the strings.
func sortCases(children []Child) []caseRef {
	cases := make([]caseRef, len(children))
	if len(children) == 0 {
		return cases
	}
	prefix := children[0].CaseNo
	for i := range children {
		no := children[i].CaseNo
		k := 0
		for k < len(prefix) && k < len(no) && prefix[k] == no[k] {
			k++
		}
		prefix = prefix[:k]
	}
	sorted := true
	for i := range children {
		no := children[i].CaseNo
		var key uint64
		for k := range 8 {
			key <<= 8
			if len(prefix)+k < len(no) {
				key |= uint64(no[len(prefix)+k])
			}
		}
		cases[i] = caseRef{key, no, int32(i)}
		if i > 0 && sorted && cases[i-1].no > no {
			sorted = false
		}
	}
	if !sorted {
		slices.SortFunc(cases, func(a, b caseRef) int {
			if a.key != b.key {
				return cmp.Compare(a.key, b.key)
			}
			return strings.Compare(a.no, b.no)
		})
	}
	return cases
}

// hexDigit is the value of a lowercase hex digit, 0xff for other bytes.
var hexDigit = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for i := range 10 {
		t['0'+i] = byte(i)
	}
	for i := range 6 {
		t['a'+i] = byte(10 + i)
	}
	return t
}()

// parseTiebreak checks that t is 64 lowercase hex digits and returns the
// number its first 16 digits spell.
func parseTiebreak(t string) (uint64, bool) {
	if len(t) != 64 {
		return 0, false
	}
	var hi uint64
	var bad byte
	for i := range 16 {
		d := hexDigit[t[i]]
		bad |= d
		hi = hi<<4 | uint64(d&0xf)
	}
	for i := 16; i < 64; i++ {
		bad |= hexDigit[t[i]]
	}
	return hi, bad&0xf0 == 0
}

// siftUp restores the max-heap h after a key was put at h[i].
func siftUp(h []int32, i int32) {
	x := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if h[p] >= x {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = x
}

// siftDown restores the full max-heap h after h[0] was replaced.
func siftDown(h []int32) {
	l := int32(len(h))
	x := h[0]
	i := int32(0)
	for {
		c := 2*i + 1
		if c >= l {
			break
		}
		if c+1 < l && h[c+1] > h[c] {
			c++
		}
		if h[c] <= x {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}

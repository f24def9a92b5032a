package matching

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// Generate returns a random instance shaped like a district's intake, for
// tests and load tools: schools of varied size whose seats add up to 90–100%
// of the children; one division per school, whose catchment that school
// serves, a quarter of them with a second school; points 0 to 100 in steps
// of 5, with many ties; prefs preferences per child (at most the number of
// schools), skewed toward popular schools and in four cases of five
// including a catchment school; case numbers like SE3212022027000001, in
// order; tiebreaks drawn from a seed taken from rng. One school in forty
// or so has no seats. Generate panics when schools < 1.
func Generate(rng *rand.Rand, children, schools, prefs int) Input {
	if schools < 1 {
		panic("matching.Generate: no schools")
	}
	prefs = max(1, min(prefs, schools))
	var b [32]byte
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	seed := hex.EncodeToString(b[:])

	size := make([]float64, schools)
	popular := make([]float64, schools)
	sumSize := 0.0
	for s := range size {
		size[s] = math.Exp(0.5 * rng.NormFloat64())
		popular[s] = size[s] * math.Exp(0.8*rng.NormFloat64())
		sumSize += size[s]
	}
	in := Input{Schools: make([]School, schools), Children: make([]Child, children)}
	total := int(float64(children) * (0.9 + 0.1*rng.Float64()))
	given := 0
	for s := range in.Schools {
		seats := int(float64(total) * size[s] / sumSize)
		if schools > 1 && rng.IntN(40) == 0 {
			seats = 0
		}
		in.Schools[s] = School{Code: fmt.Sprintf("S%04d", s+1), Seats: seats}
		given += seats
	}
	for ; given < total; given++ {
		in.Schools[rng.IntN(schools)].Seats++
	}

	// Division d lies in the catchment of school d, and of second[d] if any.
	second := make([]int, schools)
	for d := range second {
		second[d] = -1
		if schools > 1 && rng.IntN(4) == 0 {
			second[d] = (d + 1 + rng.IntN(schools-1)) % schools
		}
	}
	sizeCDF, popularCDF := cumulative(size), cumulative(popular)
	chosen := make([]int, 0, prefs)
	for i := range in.Children {
		d := pick(rng, sizeCDF)
		catchment := []int{d}
		if second[d] >= 0 {
			catchment = append(catchment, second[d])
		}
		chosen = chosen[:0]
		if rng.IntN(5) != 0 {
			chosen = append(chosen, catchment[rng.IntN(len(catchment))])
		}
		for len(chosen) < prefs {
			s := pick(rng, popularCDF)
			for try := 0; slices.Contains(chosen, s); try++ {
				if try < 32 {
					s = pick(rng, popularCDF)
				} else {
					s = (s + 1) % schools
				}
			}
			chosen = append(chosen, s)
		}
		// The catchment school, if listed, goes to a random position.
		at := rng.IntN(len(chosen))
		chosen[0], chosen[at] = chosen[at], chosen[0]

		c := Child{
			CaseNo:      fmt.Sprintf("SE321202%04d%06d", 2027, i+1),
			Preferences: make([]string, len(chosen)),
			Catchment:   make([]string, len(catchment)),
			Points:      5 * (rng.IntN(11) + rng.IntN(11)),
		}
		for k, s := range chosen {
			c.Preferences[k] = in.Schools[s].Code
		}
		for k, s := range catchment {
			c.Catchment[k] = in.Schools[s].Code
		}
		c.Tiebreak = Tiebreak(seed, c.CaseNo)
		in.Children[i] = c
	}
	return in
}

// cumulative returns the running sums of w.
func cumulative(w []float64) []float64 {
	cdf := make([]float64, len(w))
	sum := 0.0
	for i, x := range w {
		sum += x
		cdf[i] = sum
	}
	return cdf
}

// pick draws an index with probability proportional to its weight, given
// the running sums of the weights.
func pick(rng *rand.Rand, cdf []float64) int {
	i := sort.SearchFloat64s(cdf, rng.Float64()*cdf[len(cdf)-1])
	return min(i, len(cdf)-1)
}

// Pairs returns the priority of every child at every school it lists, in
// input order: the (child, school) pairs an allocation ranks.
func Pairs(in Input) []Priority {
	n := 0
	for i := range in.Children {
		n += len(in.Children[i].Preferences)
	}
	p := make([]Priority, 0, n)
	for i := range in.Children {
		c := &in.Children[i]
		for _, s := range c.Preferences {
			p = append(p, c.PriorityAt(s))
		}
	}
	return p
}

// BaselineSort sorts priorities as the schools rank them, with one
// slices.SortFunc. It is the yardstick of the benchmarks: Allocate on an
// input should take no more than a small multiple of BaselineSort on its
// Pairs.
func BaselineSort(p []Priority) {
	slices.SortFunc(p, Priority.Compare)
}

package matching_test

import (
	"math/rand/v2"
	"testing"

	"tzportal/portal/matching"
)

// benchInput is a district of 100,000 children, 300 schools and 3
// preferences each, the children not in case order: 300,000 pairs.
func benchInput() matching.Input {
	rng := rand.New(rand.NewPCG(2027, 1))
	in := matching.Generate(rng, 100_000, 300, 3)
	rng.Shuffle(len(in.Children), func(i, j int) { in.Children[i], in.Children[j] = in.Children[j], in.Children[i] })
	return in
}

// BenchmarkAllocate100k is the whole of Allocate, checks and result
// included. Compare it with BenchmarkBaselineSort300k.
func BenchmarkAllocate100k(b *testing.B) {
	in := benchInput()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := matching.Allocate(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineSort300k sorts the 300,000 (child, school) priorities of
// the same district once per iteration; copying them back from the
// unsorted original is included.
func BenchmarkBaselineSort300k(b *testing.B) {
	pairs := matching.Pairs(benchInput())
	work := make([]matching.Priority, len(pairs))
	b.ReportAllocs()
	for b.Loop() {
		copy(work, pairs)
		matching.BaselineSort(work)
	}
}

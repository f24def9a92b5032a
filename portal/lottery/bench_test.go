package lottery_test

import (
	"math/rand/v2"
	"testing"

	"tzportal/portal/lottery"
)

// BenchmarkVerify100k verifies a revealed draw of 100,000 households in
// four classes for 500 units: the participants' hash, the Merkle root,
// 100,000 keys and their sort, and the offers.
func BenchmarkVerify100k(b *testing.B) {
	rng := rand.New(rand.NewPCG(2027, 1))
	ps := randomParticipants(rng, 100_000, kClasses)
	d := build(b, ps, kClasses, units(500), randomSeed(rng), "3456.78")
	b.ReportAllocs()
	for b.Loop() {
		if err := lottery.Verify(d); err != nil {
			b.Fatal(err)
		}
	}
}

package lottery_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"tzportal/portal/lottery"
)

// classPool holds the class ids random tests draw from.
var classPool = []string{"family_migrated", "elderly", "disabled", "others", "veteran", "low_income"}

// randomSeed returns a valid seed of 32 to 64 hex digits.
func randomSeed(rng *rand.Rand) string {
	b := make([]byte, 16+rng.IntN(17))
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return hex.EncodeToString(b)
}

// randomClasses returns 1 to len(classPool) distinct class ids in a random
// order.
func randomClasses(rng *rand.Rand) []string {
	perm := rng.Perm(len(classPool))[:1+rng.IntN(len(classPool))]
	classes := make([]string, len(perm))
	for i, k := range perm {
		classes[i] = classPool[k]
	}
	return classes
}

// randomParticipants returns n participants in ticket order with classes
// drawn from classes.
func randomParticipants(rng *rand.Rand, n int, classes []string) []lottery.Participant {
	ps := make([]lottery.Participant, n)
	for i := range ps {
		ps[i] = lottery.Participant{Ticket: i + 1, Class: classes[rng.IntN(len(classes))]}
	}
	return ps
}

// mth is the Merkle Tree Hash of RFC 6962, section 2.1, as the RFC defines
// it: recursively, splitting the list after the largest power of two
// smaller than its length.
func mth(lines []string) [sha256.Size]byte {
	switch n := len(lines); n {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return sha256.Sum256([]byte("\x00" + lines[0]))
	default:
		k := 1 << (bits.Len(uint(n-1)) - 1)
		l, r := mth(lines[:k]), mth(lines[k:])
		return sha256.Sum256(slices.Concat([]byte{1}, l[:], r[:]))
	}
}

// rfcRoot is the root of ps by mth.
func rfcRoot(ps []lottery.Participant) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = fmt.Sprintf("%d,%s", p.Ticket, p.Class)
	}
	sum := mth(lines)
	return hex.EncodeToString(sum[:])
}

// flipHex changes the last hex digit of s.
func flipHex(s string) string {
	last := s[len(s)-1]
	repl := byte('0')
	if last == '0' {
		repl = '1'
	}
	return s[:len(s)-1] + string(repl)
}

// otherClass returns a class of classPool other than c.
func otherClass(c string) string {
	if c == classPool[0] {
		return classPool[1]
	}
	return classPool[0]
}

func TestMerkleProofs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 0; n <= 40; n++ {
		ps := randomParticipants(rng, n, randomClasses(rng))
		root := lottery.MerkleRoot(ps)
		if want := rfcRoot(ps); root != want {
			t.Fatalf("n=%d: MerkleRoot = %s, RFC 6962 gives %s", n, root, want)
		}
		if n > 0 && lottery.VerifyProof(ps[0], nil, root) != (n == 1) {
			t.Errorf("n=%d: an empty proof verifies: %v", n, n != 1)
		}
		for i, p := range ps {
			label := fmt.Sprintf("n=%d, ticket %d", n, p.Ticket)
			proof := lottery.Proof(ps, i)
			if !lottery.VerifyProof(p, proof, root) {
				t.Fatalf("%s: proof %v does not verify", label, proof)
			}
			if max := bits.Len(uint(n - 1)); len(proof) > max {
				t.Errorf("%s: %d steps, more than %d", label, len(proof), max)
			}
			// Through JSON, as an applicant would get it.
			b, err := json.Marshal(proof)
			if err != nil {
				t.Fatal(err)
			}
			var back []lottery.ProofStep
			if err := json.Unmarshal(b, &back); err != nil || !lottery.VerifyProof(p, back, root) {
				t.Fatalf("%s: proof %s does not verify after JSON (%v)", label, b, err)
			}

			// Another participant, ticket or class fails.
			if lottery.VerifyProof(lottery.Participant{Ticket: p.Ticket + 1, Class: p.Class}, proof, root) {
				t.Errorf("%s: verifies for ticket %d", label, p.Ticket+1)
			}
			if lottery.VerifyProof(lottery.Participant{Ticket: p.Ticket, Class: otherClass(p.Class)}, proof, root) {
				t.Errorf("%s: verifies for class %q", label, otherClass(p.Class))
			}
			for j, q := range ps {
				if j != i && lottery.VerifyProof(q, proof, root) {
					t.Errorf("%s: verifies for ticket %d", label, q.Ticket)
				}
			}
			if lottery.VerifyProof(p, proof, flipHex(root)) || lottery.VerifyProof(p, proof, strings.ToUpper(root)) {
				t.Errorf("%s: verifies for another root", label)
			}
			if len(proof) > 0 && lottery.VerifyProof(p, proof[:len(proof)-1], root) {
				t.Errorf("%s: verifies without its last step", label)
			}
			if lottery.VerifyProof(p, append(slices.Clone(proof), lottery.ProofStep{Hash: root, Side: "left"}), root) {
				t.Errorf("%s: verifies with a step more", label)
			}
			// So does a tampered step.
			for k := range proof {
				for name, step := range map[string]lottery.ProofStep{
					"hash":            {Hash: flipHex(proof[k].Hash), Side: proof[k].Side},
					"upper-case hash": {Hash: strings.ToUpper(proof[k].Hash), Side: proof[k].Side},
					"short hash":      {Hash: proof[k].Hash[:62], Side: proof[k].Side},
					"side":            {Hash: proof[k].Hash, Side: map[string]string{"left": "right", "right": "left"}[proof[k].Side]},
					"no side":         {Hash: proof[k].Hash},
				} {
					bad := slices.Clone(proof)
					bad[k] = step
					if lottery.VerifyProof(p, bad, root) {
						t.Errorf("%s: verifies with step %d changed (%s)", label, k, name)
					}
				}
			}

			// The root changes with the class of any participant.
			changed := slices.Clone(ps)
			changed[i].Class = otherClass(p.Class)
			if lottery.MerkleRoot(changed) == root {
				t.Errorf("%s: the root does not change with its class", label)
			}
		}
		// And with a participant more.
		more := append(slices.Clone(ps), lottery.Participant{Ticket: n + 1, Class: "others"})
		if lottery.MerkleRoot(more) == root {
			t.Errorf("n=%d: the root does not change with a participant more", n)
		}
	}
}

// slowOrder is Order as the rules put it, written independently: the hex
// keys of every class are computed first, then each class is sorted by them
// with sort.Slice, and the classes are put one after the other.
func slowOrder(final string, classes []string, ps []lottery.Participant) []int {
	key := map[int]string{}
	for _, p := range ps {
		key[p.Ticket] = fmt.Sprintf("%x", sha256.Sum256([]byte(final+":"+strconv.Itoa(p.Ticket))))
	}
	order := []int{}
	for _, c := range classes {
		var tickets []int
		for _, p := range ps {
			if p.Class == c {
				tickets = append(tickets, p.Ticket)
			}
		}
		sort.Slice(tickets, func(i, j int) bool { return key[tickets[i]] < key[tickets[j]] })
		order = append(order, tickets...)
	}
	return order
}

func TestOrderProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for it := range 3000 {
		classes := randomClasses(rng)
		ps := randomParticipants(rng, rng.IntN(60), classes[:1+rng.IntN(len(classes))])
		final := lottery.Final(randomSeed(rng), strconv.Itoa(rng.IntN(1e6)), lottery.ParticipantsSHA256(ps))
		label := fmt.Sprintf("iteration %d", it)

		order, err := lottery.Order(final, classes, ps)
		if err != nil {
			t.Fatalf("%s: %v", label, err)
		}
		again, err := lottery.Order(final, slices.Clone(classes), slices.Clone(ps))
		if err != nil || !slices.Equal(order, again) {
			t.Fatalf("%s: Order gave %v, then %v (%v)", label, order, again, err)
		}
		if want := slowOrder(final, classes, ps); !slices.Equal(order, want) {
			t.Fatalf("%s: Order = %v, the slow version gives %v", label, order, want)
		}

		// A permutation of the tickets, the classes one after the other
		// in their order, each with all its participants.
		if len(order) != len(ps) {
			t.Fatalf("%s: %d tickets in the order, %d participants", label, len(order), len(ps))
		}
		seen := make([]bool, len(ps)+1)
		count := map[string]int{}
		for _, p := range ps {
			count[p.Class]++
		}
		class := 0
		for pos, ticket := range order {
			if ticket < 1 || ticket > len(ps) || seen[ticket] {
				t.Fatalf("%s: ticket %d at position %d of %v", label, ticket, pos+1, order)
			}
			seen[ticket] = true
			c := ps[ticket-1].Class
			for classes[class] != c {
				if count[classes[class]] != 0 {
					t.Fatalf("%s: ticket %d of class %q comes before all of class %q", label, ticket, c, classes[class])
				}
				class++
			}
			count[c]--
		}

		// Reordering the classes moves their blocks and nothing else.
		rev := slices.Clone(classes)
		slices.Reverse(rev)
		reordered, err := lottery.Order(final, rev, ps)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range classes {
			of := func(order []int) []int {
				return slices.DeleteFunc(slices.Clone(order), func(ticket int) bool { return ps[ticket-1].Class != c })
			}
			if !slices.Equal(of(order), of(reordered)) {
				t.Fatalf("%s: class %q in order %v, reordered %v", label, c, of(order), of(reordered))
			}
		}
	}
}

// Another seed gives another order: with 30 participants two seeds give the
// same order with probability 1/30!.
func TestOrderDependsOnSeed(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	ps := randomParticipants(rng, 30, []string{"others"})
	sum := lottery.ParticipantsSHA256(ps)
	seen := map[string]bool{}
	for range 200 {
		order, err := lottery.Order(lottery.Final(randomSeed(rng), "beacon", sum), []string{"others"}, ps)
		if err != nil {
			t.Fatal(err)
		}
		key := fmt.Sprint(order)
		if seen[key] {
			t.Fatalf("two seeds gave the order %v", order)
		}
		seen[key] = true
	}
	// And another beacon value too, with the same seed.
	seed := randomSeed(rng)
	a, _ := lottery.Order(lottery.Final(seed, "3456.78", sum), []string{"others"}, ps)
	b, _ := lottery.Order(lottery.Final(seed, "3456.79", sum), []string{"others"}, ps)
	if slices.Equal(a, b) {
		t.Errorf("two beacon values gave the order %v", a)
	}
}

// chiSquare returns the Pearson statistic of the counts of each ticket at
// each position against the uniform expectation, draws/n per cell, scaled by
// (n-1)/n. Each draw is a permutation, one count in every row and column, so
// the cells vary less than independent ones would: the covariance of a
// random n×n permutation matrix is 1/(n-1) times the projection on the
// (n-1)² dimensions with zero row and column sums. The unscaled statistic is
// then n/(n-1) times a chi-square with (n-1)² degrees of freedom, and the
// scaled one is that chi-square.
func chiSquare(count [][]int, draws int) float64 {
	n := float64(len(count))
	expected := float64(draws) / n
	stat := 0.0
	for _, row := range count {
		for _, c := range row {
			d := float64(c) - expected
			stat += d * d / expected
		}
	}
	return stat * (n - 1) / n
}

// TestNoPositionBias draws 10 participants of one class with 2,000 fixed
// seeds and counts each ticket at each position: 200 expected per cell. The
// statistic is a chi-square with 81 degrees of freedom (mean 81, standard
// deviation 12.7); 157 is its 1-in-a-million quantile, a loose bound. A
// draw that moves ticket 1 to the front one time in eight must fail it.
func TestNoPositionBias(t *testing.T) {
	const n, draws, bound = 10, 2000, 157.0
	rng := rand.New(rand.NewPCG(7, 7))
	ps := randomParticipants(rng, n, []string{"others"})
	sum := lottery.ParticipantsSHA256(ps)
	count := make([][]int, n)
	biased := make([][]int, n)
	for i := range count {
		count[i] = make([]int, n)
		biased[i] = make([]int, n)
	}
	for d := range draws {
		order, err := lottery.Order(lottery.Final(randomSeed(rng), "beacon", sum), []string{"others"}, ps)
		if err != nil {
			t.Fatal(err)
		}
		for pos, ticket := range order {
			count[ticket-1][pos]++
		}
		if d%8 == 0 {
			at := slices.Index(order, 1)
			order = slices.Insert(slices.Delete(order, at, at+1), 0, 1)
		}
		for pos, ticket := range order {
			biased[ticket-1][pos]++
		}
	}
	stat := chiSquare(count, draws)
	t.Logf("chi-square %.1f with %d degrees of freedom", stat, (n-1)*(n-1))
	if stat > bound {
		t.Errorf("chi-square %.1f > %.0f: tickets are not evenly spread over positions: %v", stat, bound, count)
	}
	if stat := chiSquare(biased, draws); stat <= bound {
		t.Errorf("chi-square of a biased draw %.1f <= %.0f: the test cannot see a bias", stat, bound)
	} else {
		t.Logf("chi-square of a biased draw %.1f", stat)
	}
}

func TestOffersFollowOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for range 500 {
		order := rng.Perm(rng.IntN(20))
		units := make([]string, rng.IntN(20))
		for i := range units {
			units[i] = fmt.Sprintf("U%02d", i)
		}
		offers := lottery.Offers(order, units)
		if len(offers) != min(len(order), len(units)) {
			t.Fatalf("%d offers for %d households and %d units", len(offers), len(order), len(units))
		}
		for i, o := range offers {
			if want := (lottery.Offer{Ticket: order[i], Unit: units[i]}); !reflect.DeepEqual(o, want) {
				t.Fatalf("offer %d = %v, want %v", i, o, want)
			}
		}
	}
}

package lottery_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"tzportal/portal/lottery"
)

// knownDraw is the known-answer draw as its JSON, every value computed with
// shell tools (see lottery_test.go).
const knownDraw = `{
  "id": 7, "district": "321202", "kind": "public_rental", "status": "revealed",
  "units": [{"code": "A-101"}, {"code": "A-102"}, {"code": "B-201"}],
  "classes": ["family_migrated", "elderly", "disabled", "others"],
  "participants": [
    {"ticket": 1, "class": "others", "applicant": "张*"},
    {"ticket": 2, "class": "elderly", "applicant": "李*"},
    {"ticket": 3, "class": "family_migrated", "applicant": "王*"},
    {"ticket": 4, "class": "elderly", "applicant": "赵*"},
    {"ticket": 5, "class": "disabled", "applicant": "陈*"},
    {"ticket": 6, "class": "others", "applicant": "周*"}
  ],
  "participants_sha256": "` + kSixSHA + `",
  "merkle_root": "` + kRoot6 + `",
  "commitment": "` + kCommitment + `",
  "beacon": "SSE Composite Index close, 2027-03-01",
  "seed": "` + kSeed + `",
  "beacon_value": "` + kBeacon + `",
  "final": "` + kFinal + `",
  "order": [3, 4, 2, 5, 1, 6],
  "offers": [{"ticket": 3, "unit": "A-101"}, {"ticket": 4, "unit": "A-102"}, {"ticket": 2, "unit": "B-201"}],
  "algorithm": "see lottery.Algorithm"
}`

func parse(t testing.TB, s string) *lottery.Draw {
	t.Helper()
	var d lottery.Draw
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestVerifyKnownDraw(t *testing.T) {
	d := parse(t, knownDraw)
	if err := lottery.Verify(d); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	// The same draw before the reveal.
	d.Status = lottery.StatusOpen
	d.Seed, d.BeaconValue, d.Final, d.Order, d.Offers = "", "", "", nil, nil
	if err := lottery.Verify(d); err != nil {
		t.Fatalf("Verify of the open draw: %v", err)
	}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{"seed", "beacon_value", "final", "order", "offers"} {
		if strings.Contains(string(b), `"`+field+`"`) {
			t.Errorf("the open draw publishes %q: %s", field, b)
		}
	}
}

// build returns a draw of ps, open, or revealed with seed and beaconValue
// when seed is not empty, filled in with the functions of the package.
func build(t testing.TB, ps []lottery.Participant, classes, units []string, seed, beaconValue string) *lottery.Draw {
	t.Helper()
	d := &lottery.Draw{
		ID: 1, District: "321202", Kind: "public_rental", Status: lottery.StatusOpen,
		Units: unitsOf(units), Classes: classes,
		ParticipantsSHA256: lottery.ParticipantsSHA256(ps),
		MerkleRoot:         lottery.MerkleRoot(ps),
		Commitment:         lottery.Commitment(seed),
		Beacon:             "SSE Composite Index close, 2027-03-01",
		Algorithm:          lottery.Algorithm,
	}
	for _, p := range ps {
		d.Participants = append(d.Participants, lottery.PublicParticipant{Ticket: p.Ticket, Class: p.Class, Applicant: "张*"})
	}
	if seed == "" {
		d.Commitment = lottery.Commitment("00000000000000000000000000000000")
		return d
	}
	d.Status = lottery.StatusRevealed
	d.Seed, d.BeaconValue = seed, beaconValue
	d.Final = lottery.Final(seed, beaconValue, d.ParticipantsSHA256)
	order, err := lottery.Order(d.Final, classes, ps)
	if err != nil {
		t.Fatal(err)
	}
	d.Order = order
	d.Offers = lottery.Offers(order, units)
	return d
}

// clone copies d through its JSON, as a verifier would read it.
func clone(t testing.TB, d *lottery.Draw) *lottery.Draw {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return parse(t, string(b))
}

func units(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = fmt.Sprintf("%d-%02d", 1+i/10, 1+i%10)
	}
	return u
}

func TestVerifyRandomDraws(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for it := range 500 {
		classes := randomClasses(rng)
		ps := randomParticipants(rng, rng.IntN(40), classes)
		seed := ""
		if it%4 != 0 {
			seed = randomSeed(rng)
		}
		d := build(t, ps, classes, units(rng.IntN(30)), seed, fmt.Sprintf("%d.%02d", rng.IntN(5000), rng.IntN(100)))
		if err := lottery.Verify(clone(t, d)); err != nil {
			t.Fatalf("iteration %d: %v", it, err)
		}
		if seed != "" && len(d.Offers) != min(len(ps), len(d.Units)) {
			t.Fatalf("iteration %d: %d offers for %d households and %d units", it, len(d.Offers), len(ps), len(d.Units))
		}
	}
}

// tamperBase is a revealed draw of 40 households in four classes, all four
// present, and 10 units; tampering tests change one thing in a copy.
func tamperBase(t *testing.T) *lottery.Draw {
	rng := rand.New(rand.NewPCG(6, 6))
	ps := randomParticipants(rng, 40, kClasses)
	for k, c := range kClasses {
		ps[k].Class = c
	}
	return build(t, ps, slices.Clone(kClasses), units(10), randomSeed(rng), "3456.78")
}

func TestVerifyCatchesTampering(t *testing.T) {
	base := tamperBase(t)
	if err := lottery.Verify(base); err != nil {
		t.Fatal(err)
	}
	open := build(t, randomParticipants(rand.New(rand.NewPCG(8, 8)), 20, kClasses), kClasses, units(5), "", "")
	if err := lottery.Verify(open); err != nil {
		t.Fatal(err)
	}
	swap := func(s []int, i, j int) { s[i], s[j] = s[j], s[i] }
	for _, tt := range []struct {
		name   string
		open   bool
		field  string
		tamper func(d *lottery.Draw)
	}{
		{"a participant's class", false, "participants_sha256", func(d *lottery.Draw) {
			d.Participants[7].Class = otherClass(d.Participants[7].Class)
		}},
		{"a participant's class, unlisted", false, "participants", func(d *lottery.Draw) { d.Participants[7].Class = "veteran" }},
		{"a participant's class, not an id", false, "participants", func(d *lottery.Draw) { d.Participants[7].Class = "Others" }},
		{"a ticket", false, "participants", func(d *lottery.Draw) { d.Participants[7].Ticket = 9 }},
		{"two participants swapped", false, "participants", func(d *lottery.Draw) {
			d.Participants[3], d.Participants[4] = d.Participants[4], d.Participants[3]
		}},
		{"a participant dropped", false, "participants_sha256", func(d *lottery.Draw) { d.Participants = d.Participants[:39] }},
		{"participants_sha256", false, "participants_sha256", func(d *lottery.Draw) { d.ParticipantsSHA256 = flipHex(d.ParticipantsSHA256) }},
		{"merkle_root", false, "merkle_root", func(d *lottery.Draw) { d.MerkleRoot = flipHex(d.MerkleRoot) }},
		{"merkle_root in upper case", false, "merkle_root", func(d *lottery.Draw) { d.MerkleRoot = strings.ToUpper(d.MerkleRoot) }},
		{"commitment", false, "seed", func(d *lottery.Draw) { d.Commitment = flipHex(d.Commitment) }},
		{"commitment, not a hash", false, "commitment", func(d *lottery.Draw) { d.Commitment = d.Commitment[:60] }},
		{"seed", false, "seed", func(d *lottery.Draw) { d.Seed = flipHex(d.Seed) }},
		{"seed in upper case", false, "seed", func(d *lottery.Draw) { d.Seed = strings.ToUpper(d.Seed) }},
		{"seed missing", false, "seed", func(d *lottery.Draw) { d.Seed = "" }},
		{"beacon_value", false, "final", func(d *lottery.Draw) { d.BeaconValue = "3456.79" }},
		{"beacon_value missing", false, "beacon_value", func(d *lottery.Draw) { d.BeaconValue = "" }},
		{"final", false, "final", func(d *lottery.Draw) { d.Final = flipHex(d.Final) }},
		{"two order entries swapped", false, "order", func(d *lottery.Draw) { swap(d.Order, 11, 12) }},
		{"the last two order entries swapped", false, "order", func(d *lottery.Draw) { swap(d.Order, 38, 39) }},
		{"an order entry dropped", false, "order", func(d *lottery.Draw) { d.Order = d.Order[:39] }},
		{"an order entry added", false, "order", func(d *lottery.Draw) { d.Order = append(d.Order, 1) }},
		{"classes reordered", false, "order", func(d *lottery.Draw) { swap2(d.Classes, 0, 3) }},
		{"a class listed twice", false, "classes", func(d *lottery.Draw) { d.Classes = append(d.Classes, d.Classes[0]) }},
		{"an offer's unit", false, "offers", func(d *lottery.Draw) { d.Offers[4].Unit = "9-99" }},
		{"an offer's ticket", false, "offers", func(d *lottery.Draw) { d.Offers[4].Ticket = d.Order[20] }},
		{"an offer dropped", false, "offers", func(d *lottery.Draw) { d.Offers = d.Offers[:9] }},
		{"an offer added", false, "offers", func(d *lottery.Draw) {
			d.Offers = append(d.Offers, lottery.Offer{Ticket: d.Order[10], Unit: "9-99"})
		}},
		{"units swapped", false, "offers", func(d *lottery.Draw) { d.Units[0], d.Units[1] = d.Units[1], d.Units[0] }},
		{"a unit added", false, "offers", func(d *lottery.Draw) { d.Units = append(d.Units, lottery.Unit{Code: "9-99"}) }},
		{"status", false, "status", func(d *lottery.Draw) { d.Status = "closed" }},
		{"revealed to open", false, "seed", func(d *lottery.Draw) { d.Status = lottery.StatusOpen }},
		{"open to revealed", true, "seed", func(d *lottery.Draw) { d.Status = lottery.StatusRevealed }},
		{"a seed in an open draw", true, "seed", func(d *lottery.Draw) { d.Seed = "00000000000000000000000000000000" }},
		{"an order in an open draw", true, "order", func(d *lottery.Draw) { d.Order = []int{1} }},
		{"offers in an open draw", true, "offers", func(d *lottery.Draw) { d.Offers = []lottery.Offer{{Ticket: 1, Unit: "1-01"}} }},
		{"a participant's class in an open draw", true, "participants_sha256", func(d *lottery.Draw) {
			d.Participants[0].Class = otherClass(d.Participants[0].Class)
		}},
		{"merkle_root in an open draw", true, "merkle_root", func(d *lottery.Draw) { d.MerkleRoot = flipHex(d.MerkleRoot) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := clone(t, base)
			if tt.open {
				d = clone(t, open)
			}
			tt.tamper(d)
			err := lottery.Verify(d)
			var m *lottery.Mismatch
			if !errors.As(err, &m) {
				t.Fatalf("Verify = %v, want a Mismatch", err)
			}
			if m.Field != tt.field || !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Fatalf("Verify = %q (field %q), want field %q", err, m.Field, tt.field)
			}
			t.Log(err)
		})
	}
}

func swap2(s []string, i, j int) { s[i], s[j] = s[j], s[i] }

func unitsOf(codes []string) []lottery.Unit {
	out := make([]lottery.Unit, len(codes))
	for i, c := range codes {
		out[i] = lottery.Unit{Code: c}
	}
	return out
}

// Verify reports the first difference: with the class of ticket 8 and the
// final both changed, it names participants_sha256, not final.
func TestVerifyReportsFirstDifference(t *testing.T) {
	d := clone(t, tamperBase(t))
	d.Participants[7].Class = otherClass(d.Participants[7].Class)
	d.Final = flipHex(d.Final)
	d.Offers[0].Unit = "9-99"
	err := lottery.Verify(d)
	want := fmt.Sprintf("participants_sha256: published %q, recomputed %q", d.ParticipantsSHA256, lottery.ParticipantsSHA256(participants(d)))
	if err == nil || err.Error() != want {
		t.Errorf("Verify = %v, want %s", err, want)
	}
}

func participants(d *lottery.Draw) []lottery.Participant {
	ps := make([]lottery.Participant, len(d.Participants))
	for i, p := range d.Participants {
		ps[i] = lottery.Participant{Ticket: p.Ticket, Class: p.Class}
	}
	return ps
}

// Names are not hashed: the masked applicant can change and the draw still
// verifies. So can the id, district, kind, beacon text and algorithm text.
func TestVerifyIgnoresUnhashedFields(t *testing.T) {
	d := clone(t, tamperBase(t))
	d.Participants[0].Applicant = "某*"
	d.ID, d.District, d.Kind, d.Beacon, d.Algorithm = 99, "321203", "other", "", ""
	if err := lottery.Verify(d); err != nil {
		t.Errorf("Verify = %v", err)
	}
}

// Every participant of a published draw can check its ticket with its
// proof and the published root.
func TestProofsOfADraw(t *testing.T) {
	d := tamperBase(t)
	ps := participants(d)
	for i, p := range ps {
		if !lottery.VerifyProof(p, lottery.Proof(ps, i), d.MerkleRoot) {
			t.Errorf("ticket %d: the proof does not verify against the draw's root", p.Ticket)
		}
	}
}

func TestVerifyFewerHouseholdsThanUnits(t *testing.T) {
	ps := []lottery.Participant{{Ticket: 1, Class: "others"}, {Ticket: 2, Class: "elderly"}}
	d := build(t, ps, kClasses, units(5), kSeed, kBeacon)
	if len(d.Offers) != 2 {
		t.Fatalf("%d offers, want 2", len(d.Offers))
	}
	if err := lottery.Verify(clone(t, d)); err != nil {
		t.Fatal(err)
	}
	// No households: no order, no offers; "order" and "offers" are left
	// out of the JSON.
	d = build(t, nil, kClasses, units(5), kSeed, kBeacon)
	if err := lottery.Verify(clone(t, d)); err != nil {
		t.Fatal(err)
	}
	if d.ParticipantsSHA256 != kEmpty || d.MerkleRoot != kEmpty {
		t.Errorf("an empty draw has participants_sha256 %s and merkle_root %s, want %s", d.ParticipantsSHA256, d.MerkleRoot, kEmpty)
	}
	if err := lottery.Verify(nil); err == nil {
		t.Error("Verify(nil) = nil")
	}
}

func TestAlgorithm(t *testing.T) {
	for _, s := range []string{"participants_sha256", "merkle_root", "commitment", "final", "order", "offers", "0x00", "0x01", `":"`, "RFC 6962"} {
		if !strings.Contains(lottery.Algorithm, s) {
			t.Errorf("Algorithm does not mention %s", s)
		}
	}
}

package lottery_test

import (
	"reflect"
	"strings"
	"testing"

	"tzportal/portal/lottery"
)

// The expected values in this file were computed with shell tools, not with
// this package, for instance:
//
//	printf '1,others\n2,elderly\n' | sha256sum
//	printf '%s' 00112233445566778899aabbccddeeff | sha256sum
//	{ printf '\x00'; printf '%s' '1,others'; } | sha256sum             # a leaf
//	{ printf '\x01'; printf '%s%s' "$L" "$R" | xxd -r -p; } | sha256sum # a node
const (
	kSeed   = "00112233445566778899aabbccddeeff"
	kBeacon = "SSE-20270301-close-3456.78"

	kCommitment = "5947d7c33d783f94b3b4c1a96ebc8991ed28f1b069b71e03376cba8caa98a720"
	kEmpty      = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	kTwoSHA     = "0e8007dc7905347eaa53b22bfb4b71c4f6915777d3a5461d76f6a8ed3a713831"
	kSixSHA     = "32c604231712a65303c4ece543f60b5d75f7c42141c2006484d6d1508deb7969"
	kFinal      = "c285187a7cd594c259126b811691622b0bee32ad024ddc74c612cfc34d68a97d"

	// Leaves of the six participants of six().
	kLeaf1 = "8eb69f7df6ea270886c5f656200e11ef2dd6fadeea2e7f417ecfebf753153bfa"
	kLeaf2 = "636c86bc1798ac54d70a5cef54d32593bb551242be5937ffa4c2b3c3bfdd97ba"
	kLeaf6 = "39715f3b258180554c57ff3fa390a0e9704d677dfd3b219188280fb003f96b68"
	// Inner nodes: kN12 = node(leaf1, leaf2), kN1234 = node(kN12, kN34).
	kN12   = "87cd3bcc808a2a6bfa43c6340208bd80442413ec383007d88dbf58f577de1213"
	kN34   = "c57595b363c0a21c47f57e4c86345c1e9a96602664f2e283ff7b8e0603e734bd"
	kN56   = "17e1d73e3f08a5f17136b4dc26cf60bc3f22d873f408d38ecbfe5112dd88118e"
	kN1234 = "cac167e432ca8fd84a0f35f4fe217402fca024981843da44efbef77f290ff366"
	// Roots of the first 3, 5 and 6 participants of six().
	kRoot3 = "f343e83ec186e8009dd8c9e8f512d46be69610c1620cbb599b5bbccaf16156fc"
	kRoot5 = "7a20ce4c7a48b59a6ee9377b52349a58bd78190a7671871a9dcecd176e5ef486"
	kRoot6 = "3df005df9927ef1330f589681a12474e6d10424e653cbac34ca9abb10c23148d"
)

// kClasses is the order of the classes in the known-answer draw.
var kClasses = []string{"family_migrated", "elderly", "disabled", "others"}

// six is the list of the known-answer draw.
func six() []lottery.Participant {
	return []lottery.Participant{
		{Ticket: 1, Class: "others"},
		{Ticket: 2, Class: "elderly"},
		{Ticket: 3, Class: "family_migrated"},
		{Ticket: 4, Class: "elderly"},
		{Ticket: 5, Class: "disabled"},
		{Ticket: 6, Class: "others"},
	}
}

func TestParticipantsSHA256(t *testing.T) {
	for _, tt := range []struct {
		ps   []lottery.Participant
		want string
	}{
		{nil, kEmpty},
		{six()[:2], kTwoSHA},
		{six(), kSixSHA},
	} {
		if got := lottery.ParticipantsSHA256(tt.ps); got != tt.want {
			t.Errorf("ParticipantsSHA256(%v) = %s, want %s", tt.ps, got, tt.want)
		}
	}
}

func TestCommitmentAndFinal(t *testing.T) {
	if got := lottery.Commitment(kSeed); got != kCommitment {
		t.Errorf("Commitment = %s, want %s", got, kCommitment)
	}
	if got := lottery.Final(kSeed, kBeacon, kSixSHA); got != kFinal {
		t.Errorf("Final = %s, want %s", got, kFinal)
	}
	// The beacon value is hashed as UTF-8.
	const want = "43e6f74a4b05115b34d9d28f20af96a6ddb522c6b6d3d5aeda3cb3e6dd784998"
	if got := lottery.Final(kSeed, "上证综指 2027-03-01 收盘 3456.78", kTwoSHA); got != want {
		t.Errorf("Final with a Chinese beacon value = %s, want %s", got, want)
	}
}

func TestMerkleKnownAnswers(t *testing.T) {
	ps := six()
	for _, tt := range []struct {
		n    int
		want string
	}{
		{0, kEmpty},
		{1, kLeaf1},
		{2, kN12},
		{3, kRoot3},
		{5, kRoot5},
		{6, kRoot6},
	} {
		if got := lottery.MerkleRoot(ps[:tt.n]); got != tt.want {
			t.Errorf("MerkleRoot of %d = %s, want %s", tt.n, got, tt.want)
		}
	}

	// Ticket 5 of six: its sibling leaf 6 on the right, then kN1234 on the
	// left (level 1 has three nodes, and kN56 moves up unchanged).
	want6 := []lottery.ProofStep{{Hash: kLeaf6, Side: "right"}, {Hash: kN1234, Side: "left"}}
	if got := lottery.Proof(ps, 4); !reflect.DeepEqual(got, want6) {
		t.Errorf("Proof(six, 4) = %v, want %v", got, want6)
	}
	// Ticket 5 of five moves up twice unchanged, then meets kN1234.
	want5 := []lottery.ProofStep{{Hash: kN1234, Side: "left"}}
	if got := lottery.Proof(ps[:5], 4); !reflect.DeepEqual(got, want5) {
		t.Errorf("Proof(five, 4) = %v, want %v", got, want5)
	}
	// Ticket 1 of six: leaf 2, kN34, kN56, all on the right.
	want1 := []lottery.ProofStep{{Hash: kLeaf2, Side: "right"}, {Hash: kN34, Side: "right"}, {Hash: kN56, Side: "right"}}
	if got := lottery.Proof(ps, 0); !reflect.DeepEqual(got, want1) {
		t.Errorf("Proof(six, 0) = %v, want %v", got, want1)
	}
	// Ticket 3 of three: kN12 on the left.
	want3 := []lottery.ProofStep{{Hash: kN12, Side: "left"}}
	if got := lottery.Proof(ps[:3], 2); !reflect.DeepEqual(got, want3) {
		t.Errorf("Proof(three, 2) = %v, want %v", got, want3)
	}
	if got := lottery.Proof(ps[:1], 0); got == nil || len(got) != 0 {
		t.Errorf("Proof(one, 0) = %#v, want an empty proof", got)
	}
	for _, tt := range []struct {
		p     lottery.Participant
		proof []lottery.ProofStep
		root  string
	}{
		{ps[4], want6, kRoot6},
		{ps[4], want5, kRoot5},
		{ps[0], want1, kRoot6},
		{ps[2], want3, kRoot3},
		{ps[0], nil, kLeaf1},
	} {
		if !lottery.VerifyProof(tt.p, tt.proof, tt.root) {
			t.Errorf("VerifyProof(%v, %v, %s) = false", tt.p, tt.proof, tt.root)
		}
	}
}

func TestProofPanicsOutOfRange(t *testing.T) {
	for _, i := range []int{-1, 6} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Proof(six, %d) did not panic", i)
				}
			}()
			lottery.Proof(six(), i)
		}()
	}
}

// In the known-answer draw the keys SHA-256(final + ":" + ticket) are
//
//	1 20a4dfb2…  2 6e94d98c…  3 3e02551d…  4 3b71d2db…  5 ccd7646d…  6 bc1c24b4…
//
// so family_migrated is 3; elderly 4 (3b…) then 2 (6e…); disabled 5; others
// 1 (20…) then 6 (bc…).
func TestOrderKnownAnswer(t *testing.T) {
	order, err := lottery.Order(kFinal, kClasses, six())
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{3, 4, 2, 5, 1, 6}; !reflect.DeepEqual(order, want) {
		t.Errorf("Order = %v, want %v", order, want)
	}
	offers := lottery.Offers(order, []string{"A-101", "A-102", "B-201"})
	want := []lottery.Offer{{Ticket: 3, Unit: "A-101"}, {Ticket: 4, Unit: "A-102"}, {Ticket: 2, Unit: "B-201"}}
	if !reflect.DeepEqual(offers, want) {
		t.Errorf("Offers = %v, want %v", offers, want)
	}
}

func TestOffers(t *testing.T) {
	units := []string{"A-101", "A-102", "B-201"}
	if got, want := lottery.Offers([]int{2, 1}, units), []lottery.Offer{{Ticket: 2, Unit: "A-101"}, {Ticket: 1, Unit: "A-102"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Offers with fewer households than units = %v, want %v", got, want)
	}
	if got := lottery.Offers(nil, units); len(got) != 0 {
		t.Errorf("Offers with no households = %v", got)
	}
	if got := lottery.Offers([]int{1, 2}, nil); len(got) != 0 {
		t.Errorf("Offers with no units = %v", got)
	}
}

func TestValidSeed(t *testing.T) {
	for seed, want := range map[string]bool{
		kSeed:                                    true,
		strings.Repeat("f", 128):                 true,
		strings.Repeat("0", 31):                  false,
		strings.Repeat("0", 129):                 false,
		"00112233445566778899AABBCCDDEEFF":       false,
		"00112233445566778899aabbccddeefg":       false,
		"":                                       false,
		" 00112233445566778899aabbccddeeff":      false,
		"00112233445566778899aabbccddeeff\n":     false,
		"0x112233445566778899aabbccddeeff00":     false,
		"00112233445566778899aabbccddeeff001122": true,
	} {
		if got := lottery.ValidSeed(seed); got != want {
			t.Errorf("ValidSeed(%q) = %v, want %v", seed, got, want)
		}
	}
}

func TestValidClass(t *testing.T) {
	for class, want := range map[string]bool{
		"family_migrated":       true,
		"others":                true,
		"level-2":               true,
		strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false,
		"":                      false,
		"Elderly":               false,
		"a,b":                   false,
		"a b":                   false,
		"others\n":              false,
		"老人":                    false,
	} {
		if got := lottery.ValidClass(class); got != want {
			t.Errorf("ValidClass(%q) = %v, want %v", class, got, want)
		}
	}
}

func TestOrderRejects(t *testing.T) {
	for name, tt := range map[string]struct {
		classes []string
		ps      []lottery.Participant
		want    string
	}{
		"unknown class":        {[]string{"elderly", "family_migrated", "disabled"}, six(), `ticket 1 has class "others", which is not in the classes`},
		"no classes":           {nil, six()[:1], `ticket 1 has class "others", which is not in the classes`},
		"class twice":          {[]string{"others", "elderly", "others"}, six()[:2], `class "others" is listed twice`},
		"invalid class id":     {[]string{"others", "Elderly"}, six()[:1], `"Elderly" is not a class id`},
		"ticket from 0":        {kClasses, []lottery.Participant{{Ticket: 0, Class: "others"}}, "participant 1 has ticket 0, want 1"},
		"tickets not in order": {kClasses, []lottery.Participant{{Ticket: 1, Class: "others"}, {Ticket: 3, Class: "others"}, {Ticket: 2, Class: "others"}}, "participant 2 has ticket 3, want 2"},
		"ticket twice":         {kClasses, []lottery.Participant{{Ticket: 1, Class: "others"}, {Ticket: 1, Class: "others"}}, "participant 2 has ticket 1, want 2"},
		"participant class":    {kClasses, []lottery.Participant{{Ticket: 1, Class: "others\n2,elderly"}}, "ticket 1 has class"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := lottery.Order(kFinal, tt.classes, tt.ps)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Order error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if order, err := lottery.Order(kFinal, nil, nil); err != nil || len(order) != 0 {
		t.Errorf("Order of nobody = %v, %v", order, err)
	}
}

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tzportal/portal/lottery"
)

// portal housing verify-draw recomputes a published draw from its JSON
// alone: a true one matches (exit 0), a tampered one is named (exit 1).
func TestVerifyDraw(t *testing.T) {
	ps := []lottery.Participant{{Ticket: 1, Class: "family_migrated"}, {Ticket: 2, Class: "others"}, {Ticket: 3, Class: "others"}}
	classes := []string{"family_migrated", "elderly", "disabled", "others"}
	seed := strings.Repeat("5eed", 10)
	d := lottery.Draw{ID: 7, District: "321202", Kind: "public_rental", Status: lottery.StatusRevealed,
		Units: []lottery.Unit{{Code: "A-101"}, {Code: "A-102"}}, Classes: classes, Algorithm: lottery.Algorithm,
		ParticipantsSHA256: lottery.ParticipantsSHA256(ps), MerkleRoot: lottery.MerkleRoot(ps),
		Commitment: lottery.Commitment(seed), Beacon: "中国福利彩票双色球 2027001 期开奖号码", Seed: seed, BeaconValue: "03 07 12 19 25 31 + 09"}
	for _, p := range ps {
		d.Participants = append(d.Participants, lottery.PublicParticipant{Ticket: p.Ticket, Class: p.Class, Applicant: "张*"})
	}
	d.Final = lottery.Final(d.Seed, d.BeaconValue, d.ParticipantsSHA256)
	order, err := lottery.Order(d.Final, classes, ps)
	if err != nil {
		t.Fatal(err)
	}
	d.Order, d.Offers = order, lottery.Offers(order, lottery.UnitCodes(d.Units))
	write := func(d lottery.Draw) string {
		b, _ := json.Marshal(d)
		path := filepath.Join(t.TempDir(), "draw.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	if code, out, err := runCmd(t, env{}, "", "housing", "verify-draw", write(d)); code != 0 || !strings.Contains(out, "matches") {
		t.Fatalf("a true draw: %d %q %v", code, out, err)
	}
	d.Offers[0].Unit, d.Offers[1].Unit = d.Offers[1].Unit, d.Offers[0].Unit
	if code, out, err := runCmd(t, env{}, "", "housing", "verify-draw", write(d)); code != 1 || !strings.Contains(out, "offers") {
		t.Fatalf("swapped offers: %d %q %v", code, out, err)
	}
}

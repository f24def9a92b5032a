package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"tzportal/portal"
	"tzportal/portal/lottery"
	"tzportal/portal/testkit"
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

// portal housing units import adds a file's units to the stock, each with
// its history row, under one audit entry; a bad row, a code twice or a code
// already in the stock refuses the whole file, naming its line, and
// imports nothing.
func TestHousingUnitsImport(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testkit.SQLite, "postgres": testkit.Postgres} {
		t.Run(name, func(t *testing.T) {
			e := env{"DATABASE_URL": dsn(t), "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_DATA_DIR": t.TempDir()}
			dir := t.TempDir()
			write := func(name, text string) string {
				path := filepath.Join(dir, name)
				if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			const head = "code,district,kind,address,area,rooms\n"
			good := head + "HL-A-101,321202,public_rental,海陵区东进路1号101室,52.5,2\nHL-A-102,321202,public_rental,\"海陵区东进路1号102室, 东单元\",60,2\n"
			for _, c := range []struct{ name, text, want string }{
				{"bad-area.csv", good + "HL-A-103,321202,public_rental,海陵区东进路1号103室,-3,2\n", "line 4, column area"},
				{"bad-district.csv", head + "HL-A-101,321202001,public_rental,某处,50,2\n", "line 2, column district"},
				{"bad-kind.csv", head + "HL-A-101,321202,villa,某处,50,2\n", "line 2, column kind"},
				{"twice.csv", good + "HL-A-101,321202,public_rental,某处,50,2\n", "line 4, column code: unit HL-A-101 is on line 2 already"},
				{"bad-header.csv", "code,district,kind,address,area\nHL-A-101,321202,public_rental,某处,50\n", "line 1, column header"},
			} {
				code, out, err := runCmd(t, e, "", "housing", "units", "import", write(c.name, c.text))
				if code != 1 || err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "nothing imported") {
					t.Errorf("%s: %d %q %v", c.name, code, out, err)
				}
			}
			if code, out, err := runCmd(t, e, "", "housing", "units", "import", write("good.csv", good)); code != 0 || !strings.Contains(out, "imported 2 housing units") {
				t.Fatalf("good file: %d %q %v", code, out, err)
			}
			// A unit already in the stock refuses the file; the others of it are not added.
			again := head + "HL-A-201,321202,public_rental,某处,50,2\nHL-A-102,321202,public_rental,某处,50,2\n"
			if code, out, err := runCmd(t, e, "", "housing", "units", "import", write("again.csv", again)); code != 1 || err == nil ||
				!strings.Contains(err.Error(), "line 3, column code: unit HL-A-102 is in the stock already") {
				t.Errorf("a unit in the stock: %d %q %v", code, out, err)
			}
			p, _, err := openTool(context.Background(), slog.New(slog.DiscardHandler), e.get, false)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			units, err := p.DB.HousingUnits(context.Background(), portal.HousingUnitFilter{})
			if err != nil || len(units) != 2 || units[1].Address != "海陵区东进路1号102室, 东单元" || units[0].Area != 52.5 || units[0].Status != portal.UnitAvailable {
				t.Fatalf("the stock: %+v %v", units, err)
			}
			if hist, err := p.DB.HousingUnitChanges(context.Background(), "", 10); err != nil || len(hist) != 2 || hist[0].Change != portal.UnitAdd || hist[0].Actor != cliActor().ID() {
				t.Errorf("history: %+v %v", hist, err)
			}
			if code, out, err := runCmd(t, e, "", "fsck"); code != 0 {
				t.Fatalf("fsck: %d %q %v", code, out, err)
			}
		})
	}
}

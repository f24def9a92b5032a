package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/housing"
	"tzportal/portal/lottery"
	"tzportal/portal/testkit"
)

// A draw freezes the waiting list, publishes its hash and Merkle root with
// the officer's commitment; the reveal is checked against the commitment,
// happens once, and offers units in the published order; anyone re-computes
// it from the public JSON (lottery.Verify, and by hand below).
func TestHousingDraw(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		h := newHousingRig(t, b)
		p := h.p
		ctx := context.Background()
		waitlist := func(names ...string) []string {
			var nos []string
			for i, name := range names {
				c := h.applicant(t, name)
				no := h.apply(t, c, housingForm(p, t, "family_migrated", i%2 == 0, "address", fmt.Sprintf("海陵区东进东路%d号", 10+i)))
				fire(t, c, no, "submit", nil, 200)
				fire(t, h.clerk, no, "accept", nil, 200)
				fire(t, h.officer, no, "approve_review", nil, 200)
				nos = append(nos, no)
			}
			p.Clock.Advance(8 * 24 * time.Hour) // the notices end
			if _, err := p.Engine.RunDueTimers(ctx); err != nil {
				t.Fatal(err)
			}
			h.relogin()
			return nos
		}
		nos := waitlist("王一", "李二", "张三", "赵四")
		for _, no := range nos {
			if st, _ := h.state(t, h.officer, no); st != "waitlisted" {
				t.Fatalf("%s: %s", no, st)
			}
		}
		seed := strings.Repeat("d1ce", 12)
		body := map[string]any{"district": "321202", "kind": "public_rental", "units": []map[string]string{{"code": "A-101"}, {"code": "A-102"}},
			"commitment": lottery.Commitment(seed), "beacon": "中国福利彩票双色球2026140期开奖号码"}
		if r := h.gaogang.Do("POST", "/api/v1/draws", body); r.Status != 403 {
			t.Errorf("another district's officer draws: %d %s", r.Status, r.Body)
		}
		r := h.officer.Do("POST", "/api/v1/draws", body)
		if r.Status != 201 {
			t.Fatalf("create the draw: %d %s", r.Status, r.Body)
		}
		var d lottery.Draw
		if err := json.Unmarshal(r.Body, &d); err != nil || len(d.Participants) != 4 || d.Seed != "" || d.Status != lottery.StatusOpen {
			t.Fatalf("the draw: %s", r.Body)
		}
		if r := h.officer.Do("POST", "/api/v1/draws", body); r.Status != 409 {
			t.Errorf("a second open draw: %d", r.Status)
		}
		// Frozen: a household waitlisted after the draw is not in it.
		late := waitlist("钱五")[0]
		id := strconv.FormatInt(d.ID, 10)
		anon := p.NewClient(t)
		if pub := anon.Get("/api/v1/draws/" + id).JSON(t); len(pub["participants"].([]any)) != 4 {
			t.Errorf("participants after a late household: %v", pub["participants"])
		}
		// Each household sees its ticket and can check its inclusion.
		for _, no := range nos {
			_, res := h.state(t, h.officer, no)
			dr, _ := res["draw"].(map[string]any)
			if dr == nil {
				t.Fatalf("%s shows no draw: %v", no, res)
			}
			var proof []lottery.ProofStep
			b, _ := json.Marshal(dr["proof"])
			json.Unmarshal(b, &proof)
			ticket := int(dr["ticket"].(float64))
			if !lottery.VerifyProof(lottery.Participant{Ticket: ticket, Class: dr["class"].(string)}, proof, d.MerkleRoot) {
				t.Errorf("%s: its inclusion proof does not verify", no)
			}
		}
		if _, res := h.state(t, h.officer, late); res["draw"] != nil {
			t.Errorf("the late household shows a draw: %v", res["draw"])
		}

		// The reveal: a wrong seed is refused; the right one offers the units.
		if r := h.officer.Do("POST", "/api/v1/draws/"+id+"/reveal", map[string]any{"seed": strings.Repeat("ab", 20), "beacon_value": "03 07 12"}); r.Status != 422 || !strings.Contains(r.Text(), "seed_commitment") {
			t.Fatalf("a wrong seed: %d %s", r.Status, r.Body)
		}
		const beacon = "03 07 12 19 25 31 + 09"
		r = h.officer.Do("POST", "/api/v1/draws/"+id+"/reveal", map[string]any{"seed": seed, "beacon_value": beacon})
		if r.Status != 200 {
			t.Fatalf("reveal: %d %s", r.Status, r.Body)
		}
		if r := h.officer.Do("POST", "/api/v1/draws/"+id+"/reveal", map[string]any{"seed": seed, "beacon_value": beacon}); r.Status != 409 {
			t.Errorf("a second reveal: %d", r.Status)
		}
		pub := anon.Get("/api/v1/draws/" + id)
		public(t, "the public draw", pub, "王一", "李二", "东进东路", nos[0])
		var rev lottery.Draw
		if err := json.Unmarshal(pub.Body, &rev); err != nil {
			t.Fatal(err)
		}
		if err := lottery.Verify(&rev); err != nil || rev.Status != lottery.StatusRevealed || len(rev.Offers) != 2 {
			t.Fatalf("the revealed draw does not verify: %v %s", err, pub.Body)
		}
		// By hand, as an outsider would: the canonical list, final, the order.
		var lines strings.Builder
		for _, pp := range rev.Participants {
			fmt.Fprintf(&lines, "%d,%s\n", pp.Ticket, pp.Class)
		}
		hexsum := func(s string) string { x := sha256.Sum256([]byte(s)); return hex.EncodeToString(x[:]) }
		if hexsum(lines.String()) != rev.ParticipantsSHA256 {
			t.Errorf("participants_sha256 is not the canonical list's")
		}
		final := hexsum(seed + ":" + beacon + ":" + rev.ParticipantsSHA256)
		var order []int
		for _, class := range rev.Classes {
			var in []lottery.PublicParticipant
			for _, pp := range rev.Participants {
				if pp.Class == class {
					in = append(in, pp)
				}
			}
			slices.SortFunc(in, func(a, b lottery.PublicParticipant) int {
				return strings.Compare(hexsum(final+":"+strconv.Itoa(a.Ticket)), hexsum(final+":"+strconv.Itoa(b.Ticket)))
			})
			for _, pp := range in {
				order = append(order, pp.Ticket)
			}
		}
		if final != rev.Final || !slices.Equal(order, rev.Order) {
			t.Errorf("re-computed by hand: final %s order %v; published %s %v", final, order, rev.Final, rev.Order)
		}
		// The offered households are offered their units; they may lease.
		offered := 0
		for _, no := range nos {
			st, res := h.state(t, h.officer, no)
			if st == "offered" {
				offered++
				if !slices.ContainsFunc(rev.Offers, func(o lottery.Offer) bool { return o.Unit == res["unit"] }) {
					t.Errorf("%s offered %v", no, res["unit"])
				}
			}
		}
		if offered != 2 {
			t.Errorf("%d households offered, want 2", offered)
		}
		// The offers were written a batch at a time (held appends): each
		// offered case has its step, its lapse timer and left the list, the
		// three still waiting (the late household with them) are 1, 2 and
		// 3 of 3, and the audit chain holds.
		var places []int
		for _, no := range append(slices.Clone(nos), late) {
			c, hist, err := p.DB.CaseWithHistory(ctx, no)
			if err != nil {
				t.Fatal(err)
			}
			_, place, of, err := p.DB.ListPlace(ctx, c.ID)
			switch last := hist[len(hist)-1]; c.State {
			case "offered":
				if last.Event != "draw" || last.Seq != c.Version || err == nil {
					t.Errorf("%s offered: last step %+v (version %d), on the list: %v", no, last, c.Version, err)
				}
				var notices, deliveries int
				if err := p.DB.SQL().QueryRowContext(ctx, `SELECT COUNT(DISTINCT n.id), COUNT(d.id) FROM notifications n
					LEFT JOIN deliveries d ON d.notification_id = n.id WHERE n.case_id = $1 AND n.kind = 'housing-security.draw'
					AND n.user_id = $2`, c.ID, c.ApplicantID).Scan(&notices, &deliveries); err != nil || notices != 1 || deliveries == 0 {
					t.Errorf("%s offered: %d notices with %d deliveries (%v)", no, notices, deliveries, err)
				}
				if jobs, _ := p.DB.DueJobs(ctx, p.Clock.Now().AddDate(0, 1, 0), 100); !slices.ContainsFunc(jobs, func(j portal.Job) bool {
					return j.CaseID == c.ID && j.Event == "lapse_offer" && j.Version == c.Version
				}) {
					t.Errorf("%s offered without its lapse timer", no)
				}
			case "waitlisted":
				if err != nil || of != 3 {
					t.Errorf("%s waiting: %d of %d, %v", no, place, of, err)
				}
				places = append(places, place)
			}
		}
		if slices.Sort(places); !slices.Equal(places, []int{1, 2, 3}) {
			t.Errorf("places of the households still waiting: %v", places)
		}
		if n, err := p.Audit.Verify(ctx, p.DB); err != nil || n == 0 {
			t.Errorf("the audit chain after the draw: %d entries, %v", n, err)
		}
		if page := anon.Get("/draws/" + id).Text(); !strings.Contains(page, rev.Final) || !strings.Contains(page, rev.Commitment) {
			t.Error("the public draw page does not show the final value and the commitment")
		}
		_ = housing.ServiceID
	})
}

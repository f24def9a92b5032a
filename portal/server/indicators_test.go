package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// The plan's indicators equal what counting the generated cases directly
// gives: permits issued this year and ever (a final state reached, by the
// day it was), settlements by basis; another year counts its own; a year
// out of range is refused next to the field; the page shows each with its
// definition, in both languages.
func TestIndicators(t *testing.T) {
	testkit.EachBackend(t, testIndicators)
}

func testIndicators(t *testing.T, b testkit.Backend) {
	p := testkit.Start(t, b, nil) // Monday 2026-11-30
	ctx := context.Background()
	u, anon := p.NewApplicant(t, "张三")
	now := p.Clock.Now()
	r := rand.New(rand.NewPCG(13, 1))
	type key struct {
		service, state string
		year           int
		basis          string
	}
	want := map[key]int{}
	n := 0
	add := func(service, code, state string, at time.Time, form string) {
		n++
		c := &portal.Case{No: fmt.Sprintf("TZ%s%s%06d", code, at.Format("20060102"), n), Service: service, State: state, Version: 1,
			ApplicantID: u.ID, Division: "321202001", District: "321202", Form: json.RawMessage(form), Result: json.RawMessage(`{}`),
			StateSince: at, CreatedAt: at.Add(-time.Hour), UpdatedAt: at}
		if err := p.DB.Tx(ctx, func(tx portal.Tx) error { return tx.InsertCase(ctx, c) }); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 40; i++ {
		year := 2025 + r.IntN(2)
		at := time.Date(year, time.Month(1+r.IntN(11)), 1+r.IntN(28), 10, 0, 0, 0, p.Engine.Calendar.Zone)
		state := []string{"approved", "approved", "rejected"}[r.IntN(3)]
		add("residence-permit", "RP", state, at, `{}`)
		want[key{"residence-permit", state, year, ""}]++
		basis := []string{"own_home", "rental", "employment"}[r.IntN(3)]
		hs := []string{"settled", "settled", "withdrawn"}[r.IntN(3)]
		add("hukou-transfer", "HK", hs, at, `{"basis":"`+basis+`"}`)
		want[key{"hukou-transfer", hs, year, basis}]++
	}
	// One approved tomorrow (a clock ahead of the database, or a bad row):
	// not counted as of today.
	add("residence-permit", "RP", "approved", now.Add(24*time.Hour), `{}`)

	get := func(year int) map[string]map[string]any {
		t.Helper()
		res := anon.Get(fmt.Sprintf("/api/v1/indicators?year=%d", year))
		if res.Status != http.StatusOK {
			t.Fatalf("indicators %d: %d %s", year, res.Status, res.Body)
		}
		out := map[string]map[string]any{}
		for _, it := range res.JSON(t)["items"].([]any) {
			m := it.(map[string]any)
			for _, k := range []string{"id", "name", "baseline", "target", "value", "unit", "as_of", "source"} {
				if _, ok := m[k]; !ok {
					t.Errorf("indicator %v has no %q", m["id"], k)
				}
			}
			out[m["id"].(string)] = m
		}
		return out
	}
	for _, year := range []int{2025, 2026} {
		got := get(year)
		permits := got["residence_permits_issued"]
		inYear := want[key{"residence-permit", "approved", year, ""}]
		ever := want[key{"residence-permit", "approved", 2025, ""}]
		if year == 2026 {
			ever += inYear
		}
		asOf := fmt.Sprintf("%d-12-31", year)
		if year == 2026 {
			asOf = "2026-11-30"
		}
		if permits["value"] != float64(ever) || permits["in_year"] != float64(inYear) || permits["as_of"] != asOf ||
			permits["baseline"] != float64(401300) || permits["target"] != nil || permits["unit"] != "permits" {
			t.Errorf("%d: permits %v, want %d (%d in the year) as of %s", year, permits, ever, inYear, asOf)
		}
		settled := got["hukou_settlements"]
		by, _ := settled["by"].(map[string]any)
		total := 0
		for _, basis := range []string{"own_home", "rental", "employment"} {
			w := want[key{"hukou-transfer", "settled", year, basis}]
			total += w
			if w > 0 && by[basis] != float64(w) || w == 0 && by[basis] != nil {
				t.Errorf("%d: settlements on %s: %v, want %d", year, basis, by[basis], w)
			}
		}
		if settled["value"] != float64(total) || settled["name"] != "落户办理量" {
			t.Errorf("%d: settlements %v, want %d", year, settled, total)
		}
		for _, id := range []string{"migrant_children_public_school_share", "housing_security_coverage"} {
			if in := got[id]; in == nil || in["unit"] != "share" || in["target"] == nil || in["baseline"] == nil {
				t.Errorf("%d: %s: %v", year, id, in)
			}
		}
	}
	if res := anon.Get("/api/v1/indicators?year=1999"); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("year 1999: %d %s", res.Status, res.Body)
	}
	if res := anon.Get("/api/v1/indicators?year=2027"); res.Status != http.StatusUnprocessableEntity {
		t.Errorf("a year to come: %d %s", res.Status, res.Body)
	}
	wantText(t, anon.Get("/indicators?year=2026"), "the indicators page", "新型城镇化规划指标监测", "居住证累计发放量", "401,300",
		"随迁子女在公办学校就读比例", "98.0%", "落户办理量", "有自有住房")
}

package server_test

import (
	"net/http"
	"testing"

	"tzportal/portal/testkit"
)

// TestSettlementRevokesThePermitsCertificate: the move-in permit is a
// certificate, used once the family settles; settling revokes the
// residence permit's certificate, so whoever scans it learns it no longer
// holds.
func TestSettlementRevokesThePermitsCertificate(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		r := newHukouRig(t, testkit.Options{Backend: b})
		_, app := r.p.NewApplicant(t, "赵强")
		permit := r.permit(t, app)
		permitToken := tokenOf(app.Get("/api/v1/cases/" + permit + "/certificate").JSON(t))
		if v := verifyStatus(t, r.p, permitToken); v["status"] != "valid" || v["kind"] != "residence-permit" {
			t.Fatalf("the permit before settlement: %v", v)
		}
		no := r.apply(t, app, r.hukouForm(t, "origin_county", "321281", "origin_address", "兴化市昭阳街道英武路1号", "basis", "rental",
			"lease_no", "泰房租备2026-0815", "employer", nil, "contract_start", nil, "insurance_months", nil))
		fire(t, r.clerk, no, "accept", nil, http.StatusOK)
		fire(t, r.officer, no, "approve", nil, http.StatusOK) // within Taizhou: settled at once

		if v := verifyStatus(t, r.p, permitToken); v["status"] != "revoked" {
			t.Errorf("the residence permit after settlement: %v", v)
		}
		moveIn := app.Get("/api/v1/cases/" + no + "/certificate").JSON(t)
		if moveIn["kind"] != "move-in-permit" || moveIn["status"] != "used" {
			t.Errorf("the move-in permit after settlement: %v", moveIn)
		}
		if v := verifyStatus(t, r.p, tokenOf(moveIn)); v["status"] != "used" || v["holder"] != "赵*" {
			t.Errorf("verifying the move-in permit: %v", v)
		}
	})
}

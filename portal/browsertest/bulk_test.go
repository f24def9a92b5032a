package browsertest

import (
	"fmt"
	"net/http"
	"testing"

	"tzportal/portal/testkit"
)

// TestBulkAcceptJourney: the clerk ticks two cases on the worklist and
// accepts both with one button, with JavaScript and without (the table is
// a plain form); the worklist, the error of nothing ticked and the results
// page are audited with axe-core.
func TestBulkAcceptJourney(t *testing.T) { withAndWithoutJS(t, bulkJourney) }

func bulkJourney(t *testing.T, js bool) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	p.MustStaff(t, "clerk1", "street_clerk", "321202001")
	var nos []string
	for i := range 2 {
		_, app := p.NewApplicant(t, "申请人")
		form := testkit.ResidenceForm("address", fmt.Sprintf("海陵区东进东路%d号", i+1))
		r := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": form})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		no := r.JSON(t)["case_no"].(string)
		app.AttachAll(no)
		if r := app.Do("POST", "/api/v1/cases/"+no+"/events/submit", map[string]any{}); r.Status != http.StatusOK {
			t.Fatalf("submit %s: %d %s", no, r.Status, r.Body)
		}
		nos = append(nos, no)
	}

	b := newBrowser(t, js)
	t.Logf("screenshots: %s", b.shots)
	clerk := b.person("clerk", desktop)
	clerk.login(p, "clerk1")
	clerk.sees("main h1", "待办工作台")
	clerk.sees("#bulk-cases", "受理所选办件", nos[0], nos[1])
	clerk.look("bulk-worklist")
	accept := `#bulk-cases button[formaction^="/cases/events/accept"]`
	clerk.submit("accept with nothing ticked", accept)
	clerk.sees(".error-summary", "请先勾选至少一个办件")
	clerk.look("bulk-nothing-ticked")
	clerk.do("tick both", clickAll("#pick-"+nos[0], "#pick-"+nos[1])...)
	clerk.submit("accept the ticked cases", accept)
	clerk.sees("main h1", "批量办理结果")
	clerk.sees("table.cases", nos[0], nos[1], "已受理")
	clerk.look("bulk-results")
}

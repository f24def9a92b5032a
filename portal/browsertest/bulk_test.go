package browsertest

import (
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
	nos, _ := submittedPermits(t, p, 2)

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

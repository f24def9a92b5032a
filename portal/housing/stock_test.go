package housing

import (
	"slices"
	"testing"

	"tzportal/portal/unitstock"
)

// The stock takes the units a draw accepts: the same codes, the same kinds.
func TestStockTakesWhatADrawAccepts(t *testing.T) {
	if unitstock.CodeRE.String() != unitCodeRE.String() {
		t.Errorf("the stock's unit codes %s, a draw's %s", unitstock.CodeRE, unitCodeRE)
	}
	if !slices.Equal(Kinds(), kindOptions) || len(Kinds()) == 0 {
		t.Errorf("Kinds() = %v, the form's %v", Kinds(), kindOptions)
	}
}

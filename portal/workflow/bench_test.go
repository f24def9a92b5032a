package workflow_test

import (
	"context"
	"testing"

	"github.com/looplab/fsm"
)

// BenchmarkBuildAndFireFSM measures what every transition pays for the state
// machine: building a looplab/fsm for the residence permit's approve and
// firing it with a before_ callback (as Engine.transition does).
func BenchmarkBuildAndFireFSM(b *testing.B) {
	d, _ := shippedRegistry(b).Definition("residence-permit")
	// As Engine.transition builds it: the one event fired, to the target
	// its conditions chose.
	events := fsm.Events{{Name: "approve", Src: d.Events["approve"].From, Dst: d.Events["approve"].To.States()[0]}}
	ctx := context.Background()
	for b.Loop() {
		m := fsm.NewFSM("reviewing", events, fsm.Callbacks{"before_approve": func(context.Context, *fsm.Event) {}})
		if err := m.Event(ctx, "approve"); err != nil || m.Current() != "approved" {
			b.Fatal(err, m.Current())
		}
	}
}

package workflow_test

import (
	"context"
	"testing"

	"github.com/looplab/fsm"

	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// BenchmarkBuildAndFireFSM measures what every transition pays for the state
// machine: building a looplab/fsm from the residence-permit definition and
// firing one event with a before_ callback (as Engine.transition does).
func BenchmarkBuildAndFireFSM(b *testing.B) {
	reg := workflow.Registry{
		Roles:   map[string]bool{"applicant": true, "street_clerk": true},
		Guards:  map[string]map[string]bool{"residence-permit": {"form_complete": true, "min_residence": true}},
		Actions: map[string]map[string]bool{"residence-permit": {"issue_permit": true}},
	}
	defs, err := workflow.LoadAll(workflows.FS, reg)
	if err != nil {
		b.Fatal(err)
	}
	d := defs["residence-permit"]
	var events fsm.Events
	for _, name := range d.EventNames() {
		events = append(events, fsm.EventDesc{Name: name, Src: d.Events[name].From, Dst: d.Events[name].To})
	}
	ctx := context.Background()
	for b.Loop() {
		m := fsm.NewFSM("reviewing", events, fsm.Callbacks{"before_approve": func(context.Context, *fsm.Event) {}})
		if err := m.Event(ctx, "approve"); err != nil || m.Current() != "approved" {
			b.Fatal(err, m.Current())
		}
	}
}

package server

import (
	"testing"

	"tzportal/portal/workflow"
)

// An answer named in the error summary links to where it is given: a list
// entry's answer to that entry's own page, the field itself.
func TestFieldHref(t *testing.T) {
	pages := []workflow.Page{
		{ID: "where", Fields: []workflow.Field{{Name: "division"}, {Name: "address"}}},
		{ID: "members", List: "members", Fields: []workflow.Field{{Name: "relation"}, {Name: "id_number"}}},
	}
	for field, want := range map[string]string{
		"address":               "/cases/TZHK1/edit?step=where#field-address",
		"members[1].id_number":  "/cases/TZHK1/edit?item=1&step=members#field-id_number",
		"members":               "/cases/TZHK1/edit?step=members#field-members",
		"members[x].id_number":  "/cases/TZHK1/edit?step=members#field-members[x].id_number",
		"not_on_any_page":       "/cases/TZHK1",
		"members[-1].id_number": "/cases/TZHK1/edit?step=members#field-members[-1].id_number",
	} {
		if got := fieldHref("TZHK1", pages, field); got != want {
			t.Errorf("%s: %s, want %s", field, got, want)
		}
	}
}

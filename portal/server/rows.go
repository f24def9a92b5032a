package server

import (
	"html"
	"html/template"
	"strings"
)

// caseRows renders the body rows of a case list. It is the one piece of
// markup written in Go instead of a template: html/template runs its
// escapers through reflection for every value of every row, and a worklist
// page has fifty rows (BenchmarkRenderWorklist: 1.6 ms → a fraction of it).
// Every value is escaped with html.EscapeString, which is safe for text
// and for double-quoted attribute values. With a.Pick, each row starts
// with a checkbox ticking the case for a bulk action (the worklist).
func caseRows(items []caseSummary, a columnLabels, staff bool) template.HTML {
	var b strings.Builder
	b.Grow(len(items) * 700)
	e := html.EscapeString
	for i := range items {
		it := &items[i]
		no := e(it.CaseNo)
		b.WriteString("<tr>\n")
		if a.Pick != "" {
			// A case number is letters and digits: as it is, it makes a valid id.
			b.WriteString(`<td class="pick" `)
			b.WriteString(string(a.PickCol))
			b.WriteString(`><input type="checkbox" name="case_no" value="`)
			b.WriteString(no)
			b.WriteString(`" id="pick-`)
			b.WriteString(no)
			b.WriteString(`"><label for="pick-`)
			b.WriteString(no)
			b.WriteString(`" class="visually-hidden">`)
			b.WriteString(a.Pick)
			b.WriteString(" ")
			b.WriteString(no)
			b.WriteString("</label></td>\n")
		}
		b.WriteString("<td ")
		b.WriteString(string(a.No))
		b.WriteString(`><a href="/cases/`)
		b.WriteString(no)
		b.WriteString(`">`)
		b.WriteString(no)
		b.WriteString("</a></td>\n<td ")
		b.WriteString(string(a.Service))
		b.WriteString(">")
		b.WriteString(e(it.ServiceName))
		b.WriteString("</td>\n")
		if staff {
			b.WriteString("<td ")
			b.WriteString(string(a.Applicant))
			b.WriteString(">")
			b.WriteString(e(it.Applicant))
			b.WriteString("</td>\n<td ")
			b.WriteString(string(a.Division))
			b.WriteString(">")
			b.WriteString(e(it.DivisionName))
			b.WriteString("</td>\n")
		}
		b.WriteString("<td ")
		b.WriteString(string(a.State))
		b.WriteString(`><strong class="tag tag-`)
		b.WriteString(e(it.Tone))
		b.WriteString(`">`)
		b.WriteString(e(it.StateLabel))
		b.WriteString("</strong></td>\n")
		if staff {
			// Who holds the case (认领/指派): "me" stands out.
			b.WriteString("<td ")
			b.WriteString(string(a.Holder))
			b.WriteString(">")
			switch {
			case it.HeldByMe:
				b.WriteString(`<strong class="holder-me">`)
				b.WriteString(e(it.Holder))
				b.WriteString(" ")
				b.WriteString(a.Mine)
				b.WriteString("</strong>")
			case it.Holder != "":
				b.WriteString(e(it.Holder))
			default:
				b.WriteString(`<span class="muted">`)
				b.WriteString(a.Nobody)
				b.WriteString("</span>")
			}
			b.WriteString("</td>\n")
		}
		b.WriteString("<td ")
		b.WriteString(string(a.Due))
		b.WriteString(">")
		if it.DueText != "" {
			b.WriteString(`<span class="due`)
			if it.Due != nil && it.Due.Overdue {
				b.WriteString(" due-over")
			}
			b.WriteString(`">`)
			b.WriteString(e(it.DueText))
			b.WriteString("</span>")
		}
		b.WriteString("</td>\n<td ")
		b.WriteString(string(a.Created))
		b.WriteString(">")
		b.WriteString(e(it.CreatedText))
		b.WriteString("</td>\n</tr>\n")
	}
	return template.HTML(b.String())
}

// stateOptions renders the worklist's state filter: an optgroup per
// service, an option per state, the chosen one selected. Like caseRows,
// written in Go: fifty options through html/template's reflective
// escapers cost more than the rest of the filter bar.
func stateOptions(groups []stateGroup, chosen string) template.HTML {
	var b strings.Builder
	e := html.EscapeString
	for _, g := range groups {
		b.WriteString(`<optgroup label="`)
		b.WriteString(e(g.Name))
		b.WriteString(`">`)
		for _, o := range g.States {
			b.WriteString(`<option value="`)
			b.WriteString(e(o.Value))
			b.WriteString(`"`)
			if o.Value == chosen {
				b.WriteString(" selected")
			}
			b.WriteString(">")
			b.WriteString(e(o.Label))
			b.WriteString("</option>")
		}
		b.WriteString("</optgroup>")
	}
	return template.HTML(b.String())
}

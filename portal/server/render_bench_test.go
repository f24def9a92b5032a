package server

import (
	"fmt"
	"io"
	"testing"
	"time"

	"tzportal/i18n"
	"tzportal/portal/locale"
)

// BenchmarkRenderWorklist measures the template work of a clerk's worklist
// page with 50 rows (parsed once at start; executed per request).
func BenchmarkRenderWorklist(b *testing.B) {
	s := &Server{}
	v, err := loadViews(s.funcs())
	if err != nil {
		b.Fatal(err)
	}
	cat, err := locale.Load(i18n.FS)
	if err != nil {
		b.Fatal(err)
	}
	l := cat.L("zh-CN")
	d := &casesData{Labels: newColumnLabels(l), Staff: true, Filters: []stateGroup{{Name: "居住证申领",
		States: []choiceDoc{{"residence-permit:submitted", "已提交"}, {"residence-permit:correction", "需补正"}, {"residence-permit:reviewing", "审核中"}, {"residence-permit:approved", "已办结"}}}}}
	for i := 0; i < 50; i++ {
		d.Items = append(d.Items, caseSummary{CaseNo: fmt.Sprintf("TZRP20261130%06d", i), ServiceName: "居住证申领", State: "submitted", Tone: "open",
			StateLabel: "已提交", DivisionName: "海陵区 城东街道", Applicant: "张三", CreatedText: "2026-11-30",
			Due: &dueDoc{At: time.Now(), LastDay: "2026-12-02", Remaining: 3, Working: true}, DueText: "剩余 3 个工作日（截至 2026-12-02）"})
	}
	// A clerk's worklist is a bulk action's form: a checkbox per row.
	d.Labels.pick(l)
	d.IdemKey = "key"
	d.Bulk = []bulkButton{{Event: "accept", Label: "受理所选办件", Action: "/cases/events/accept"}}
	d.Rows = caseRows(d.Items, d.Labels, true)
	d.StateOptions = stateOptions(d.Filters, "")
	p := &page{L: l, Lang: l.Lang, Langs: locale.Supported, Staff: true, CSRF: "token", Path: "/cases", Title: "待办工作台", D: d}
	t := v.pages["cases"]
	for b.Loop() {
		d.Rows = caseRows(d.Items, d.Labels, true) // per request, as the handler does
		if err := t.ExecuteTemplate(io.Discard, "layout.html", p); err != nil {
			b.Fatal(err)
		}
	}
}

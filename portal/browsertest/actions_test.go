package browsertest

import (
	"github.com/chromedp/chromedp"
)

// setSelect chooses an option of a <select> by value, as picking it does.
func setSelect(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), value)
}

// setDate fills a date input (the browser's date picker takes the value as
// a phone's picker would give it).
func setDate(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), value)
}

// clickAll clicks each element (check boxes).
func clickAll(css ...string) []chromedp.Action[chromedp.Void] {
	var out []chromedp.Action[chromedp.Void]
	for _, c := range css {
		out = append(out, chromedp.Click(chromedp.CSS(c)))
	}
	return out
}

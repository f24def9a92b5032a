// Package browsertest walks the portal's journeys in a real browser
// (Debian's chromium, driven by chromedp), as people do: an applicant on a
// 375×667 phone, a clerk and a supervisor on a desktop, with JavaScript on
// and off, and checks every page with axe-core for serious or critical
// accessibility problems. It has no code outside its tests.
package browsertest

package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

// axeVersion is the axe-core release the audit runs; pinned so a new rule
// upstream cannot turn the suite red on its own.
const axeVersion = "4.14.1"

// chromium finds the browser: PORTAL_CHROMIUM, else Debian's chromium.
// Without one the test skips — except in CI (CI=true), where it fails.
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("PORTAL_CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	msg := "no chromium found: install it with `apt-get install -y chromium fonts-noto-cjk`, or set PORTAL_CHROMIUM"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var axeOnce struct {
	sync.Once
	src string
	err error
}

// axeSource returns axe.min.js: PORTAL_AXE_JS, else a copy installed from
// the npm registry into the user's cache (once per machine and version).
func axeSource(t *testing.T) string {
	t.Helper()
	axeOnce.Do(func() {
		path := os.Getenv("PORTAL_AXE_JS")
		if path == "" {
			cache, err := os.UserCacheDir()
			if err != nil {
				cache = os.TempDir()
			}
			dir := filepath.Join(cache, "tzportal", "axe-core-"+axeVersion)
			path = filepath.Join(dir, "node_modules", "axe-core", "axe.min.js")
			if _, err := os.Stat(path); err != nil {
				cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--no-save", "axe-core@"+axeVersion)
				if out, err := cmd.CombinedOutput(); err != nil {
					axeOnce.err = fmt.Errorf("npm install axe-core@%s: %v\n%s", axeVersion, err, out)
					return
				}
			}
		}
		b, err := os.ReadFile(path)
		axeOnce.src, axeOnce.err = string(b), err
	})
	if axeOnce.err != nil {
		msg := fmt.Sprintf("axe-core is not available (%v); set PORTAL_AXE_JS to an axe.min.js", axeOnce.err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return axeOnce.src
}

// screenshotDir is where the screenshots go: PORTAL_SCREENSHOTS, else
// tzportal-screenshots in the temp dir (kept after the test, for a person to
// look at).
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("PORTAL_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "tzportal-screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless chromium with a fresh profile.
type browser struct {
	t     *testing.T
	ctx   context.Context
	js    bool
	axe   string
	shots string
	step  int
	mu    sync.Mutex
}

// withAndWithoutJS runs a journey once with JavaScript and once without:
// the pages are plain HTML forms that work either way.
func withAndWithoutJS(t *testing.T, journey func(t *testing.T, js bool)) {
	for _, js := range []bool{true, false} {
		name := "javascript"
		if !js {
			name = "no-javascript"
		}
		t.Run(name, func(t *testing.T) { journey(t, js) })
	}
}

func newBrowser(t *testing.T, js bool) *browser {
	t.Helper()
	exe := chromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "zh-CN"), chromedp.Flag("hide-scrollbars", true), chromedp.Flag("mute-audio", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser now
		t.Fatalf("starting %s: %v", exe, err)
	}
	b := &browser{t: t, ctx: ctx, js: js, shots: screenshotDir(t)}
	if js {
		b.axe = axeSource(t)
	}
	return b
}

// Sizes of the screens people use.
var (
	phone   = [2]int64{375, 667}
	desktop = [2]int64{1280, 800}
)

// person is one user with their own cookies (a browser context of their
// own) on their own screen size.
type person struct {
	b      *browser
	t      *testing.T
	ctx    context.Context
	name   string
	screen [2]int64
}

func (b *browser) person(name string, screen [2]int64) *person {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	p := &person{b: b, t: b.t, ctx: ctx, name: name, screen: screen}
	// The first call opens the tab: its context must not carry a timeout,
	// or the tab closes when the call returns.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(screen[0], screen[1]), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: !b.js})
		return err
	})); err != nil {
		b.t.Fatalf("%s: opening a tab: %v", name, err)
	}
	return p
}

// do runs actions, failing the test with the step's name.
func (p *person) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

// submit clicks a button that submits a form and waits for the next page.
func (p *person) submit(what, css string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(css))); err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
}

func (p *person) visit(url string) {
	p.t.Helper()
	p.do("visit "+url, chromedp.Navigate(url))
}

// typeInto clears a field and types into it, key by key.
func (p *person) typeInto(css, text string) {
	p.t.Helper()
	if p.value(css) != "" { // chromedp's Clear fails on a field that is already empty
		p.do("clear "+css, chromedp.Clear(chromedp.CSS(css)))
	}
	p.do("type into "+css, chromedp.SendKeys(chromedp.CSS(css), text))
}

// read runs one query of the page, failing the test with what it asked.
func read[T any](p *person, what string, query chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, query)
	if err != nil {
		p.t.Fatalf("%s: %s: %v", p.name, what, err)
	}
	return v
}

func (p *person) value(css string) string {
	p.t.Helper()
	return read(p, "value of "+css, chromedp.Value(chromedp.CSS(css)))
}

func (p *person) text(css string) string {
	p.t.Helper()
	return read(p, "text of "+css, chromedp.Text(chromedp.CSS(css)))
}

// sees fails unless the element's text contains every string.
func (p *person) sees(css string, want ...string) {
	p.t.Helper()
	got := p.text(css)
	for _, w := range want {
		if !strings.Contains(got, w) {
			p.t.Errorf("%s: %s does not show %q; it shows:\n%s", p.name, css, w, got)
		}
	}
}

func (p *person) attr(css, name string) string {
	p.t.Helper()
	return read(p, "attributes of "+css, chromedp.Attributes(chromedp.CSS(css)))[name]
}

// look takes the screenshots of a step (at phone and at desktop size) and,
// with JavaScript on, runs the accessibility audit on the page.
func (p *person) look(step string) {
	p.t.Helper()
	p.b.mu.Lock()
	p.b.step++
	n := p.b.step
	p.b.mu.Unlock()
	mode := "js"
	if !p.b.js {
		mode = "nojs"
	}
	for _, size := range [][2]int64{phone, desktop} {
		name := fmt.Sprintf("%s-%02d-%s-%s-%dx%d.png", mode, n, p.name, step, size[0], size[1])
		p.do("screenshot "+step, chromedp.EmulateViewport(size[0], size[1]), chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			buf, err := chromedp.FullScreenshot(100)(ctx, tg)
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(p.b.shots, name), buf, 0o644)
		}))
	}
	if p.b.js {
		p.design(step)
		p.do("restore the screen", chromedp.EmulateViewport(p.screen[0], p.screen[1]))
		p.audit(step)
		return
	}
	p.do("restore the screen", chromedp.EmulateViewport(p.screen[0], p.screen[1]))
}

// design checks what axe does not: the page reflows at 320 CSS pixels (a
// 1280-pixel screen at 400 % zoom, a 640-pixel one at 200 %) without
// scrolling sideways; every control people tap is at least 44 pixels high;
// and the keyboard focus is visible.
func (p *person) design(step string) {
	p.t.Helper()
	for _, pr := range p.designProblems() {
		p.t.Errorf("%s: %s: %s", p.name, step, pr)
	}
}

// designProblems returns what design finds wrong with the page.
func (p *person) designProblems() []string {
	p.t.Helper()
	const check = `(() => {
		const out = [];
		if (document.documentElement.scrollWidth > window.innerWidth + 1)
			out.push('scrolls sideways at ' + window.innerWidth + 'px: content is ' + document.documentElement.scrollWidth + 'px wide');
		const controls = document.querySelectorAll('button, input:not([type=hidden]):not([type=radio]):not([type=checkbox]), select, textarea, summary, .site-nav a, a.button, .back a, td a, .choice');
		for (const el of controls) {
			const r = el.getBoundingClientRect();
			if (r.width > 0 && r.height < 44) out.push('tap target ' + el.outerHTML.slice(0, 80) + ' is ' + Math.round(r.height) + 'px high');
		}
		return JSON.stringify(out);
	})()`
	const focus = `(() => {
		const el = document.activeElement;
		if (!el || el === document.body) return 'nothing has the focus after Tab';
		const s = getComputedStyle(el);
		const visible = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none' ||
			s.backgroundColor === 'rgb(255, 221, 0)';
		return visible ? '' : 'the keyboard focus on ' + el.outerHTML.slice(0, 80) + ' is not visible';
	})()`
	p.do("reflow at 320px", chromedp.EmulateViewport(320, 640))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](check))
	if err != nil {
		p.t.Fatalf("%s: design check: %v", p.name, err)
	}
	var problems []string
	if err := json.Unmarshal([]byte(out), &problems); err != nil {
		p.t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\t")); err != nil {
		p.t.Fatalf("%s: Tab: %v", p.name, err)
	}
	msg, err := chromedp.Run(ctx, chromedp.Evaluate[string](focus))
	if err != nil {
		p.t.Fatalf("%s: focus check: %v", p.name, err)
	}
	if msg != "" {
		problems = append(problems, msg)
	}
	return problems
}

// violation is what the audit reports of one failed axe rule.
type violation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// audit runs axe-core on the page and fails on serious or critical
// violations, naming the rule and the elements.
func (p *person) audit(step string) {
	p.t.Helper()
	for _, v := range p.violations() {
		p.t.Errorf("%s: %s: accessibility (%s) %s: %s\n    %s", p.name, step, v.Impact, v.ID, v.Help, strings.Join(v.Nodes, "\n    "))
	}
}

// violations runs axe-core on the page and returns its serious and
// critical violations.
func (p *person) violations() []violation {
	p.t.Helper()
	const run = `axe.run(document, {resultTypes: ['violations']}).then(r => JSON.stringify(r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + n.failureSummary)}))))`
	ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](p.b.axe+";true")); err != nil {
		p.t.Fatalf("%s: injecting axe: %v", p.name, err)
	}
	out, err := chromedp.Run(ctx, chromedp.Evaluate[string](run, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: axe: %v", p.name, err)
	}
	var vs []violation
	if err := json.Unmarshal([]byte(out), &vs); err != nil {
		p.t.Fatalf("%s: axe result: %v", p.name, err)
	}
	return vs
}

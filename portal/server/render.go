package server

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/web"
)

// views holds one template set per page: the layout, the partials, every
// service's templates and the page, parsed once at start. Separate sets keep
// one page's "main" from overwriting another's.
type views struct {
	pages map[string]*template.Template
	pool  sync.Pool
}

// loadViews parses web/templates and the templates of each service:
// services/<service>/*.html in web/templates and in each extra folder (a
// service shipped with its own files). A service's template defines
// "<service>/form" and "<service>/result"; pages call them with partial.
func loadViews(funcs template.FuncMap, extra ...fs.FS) (*views, error) {
	tfs, err := fs.Sub(web.FS, "templates")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(tfs, "pages/*.html")
	if err != nil {
		return nil, err
	}
	v := &views{pages: map[string]*template.Template{}, pool: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
	for _, p := range pages {
		name := strings.TrimSuffix(path.Base(p), ".html")
		t := template.New("layout.html").Funcs(funcs)
		// partial runs a template named at run time (a service's form or
		// result panel), which {{template}} cannot: each set gets its own.
		t.Funcs(template.FuncMap{"partial": func(name string, data any) (template.HTML, error) {
			var b strings.Builder
			if t.Lookup(name) == nil {
				return "", fmt.Errorf("server: no template %q (a service's templates go in web/templates/services/<service>/)", name)
			}
			err := t.ExecuteTemplate(&b, name, data)
			return template.HTML(b.String()), err
		}})
		if _, err := t.ParseFS(tfs, "layout.html", "partials/*.html", p); err != nil {
			return nil, fmt.Errorf("server: template %s: %w", p, err)
		}
		for _, src := range append([]fs.FS{tfs}, extra...) {
			files, err := fs.Glob(src, "services/*/*.html")
			if err != nil {
				return nil, err
			}
			if len(files) == 0 {
				continue
			}
			if _, err := t.ParseFS(src, files...); err != nil {
				return nil, fmt.Errorf("server: service templates: %w", err)
			}
		}
		v.pages[name] = t
	}
	return v, nil
}

// page is what every page template receives.
type page struct {
	L         *locale.L
	Lang      string
	Langs     []string
	User      *portal.User
	Staff     bool
	CSRF      string
	Path      string // current path and query, for the language switch
	Title     string
	Service   string            // the service a page is about: its message ids start with it
	Errors    map[string]string // field → message
	Summary   []summaryItem
	Notice    string
	RequestID string
	Menu      []menuLink // service pages the user is offered
	D         any        // the page's own data
}

func (s *Server) newPage(c *fiber.Ctx, title string, d any) *page {
	l := loc(c)
	u := currentUser(c)
	return &page{L: l, Lang: l.Lang, Langs: locale.Supported, User: u, Staff: u != nil && u.Kind == portal.KindStaff,
		CSRF: s.formToken(c), Path: c.OriginalURL(), Title: l.T(title), RequestID: requestID(c), Menu: s.menuFor(u), D: d}
}

// render writes a page with status 200.
func (s *Server) render(c *fiber.Ctx, name string, p *page) error {
	return s.write(c, fiber.StatusOK, name, p)
}

// renderStatus renders a page (the error page) outside a handler's own data.
func (s *Server) renderStatus(c *fiber.Ctx, status int, name string, d any) error {
	var p *page
	if ep, ok := d.(*errorPage); ok {
		p = s.newPage(c, "", ep)
		p.Title = ep.Title
	} else {
		p = s.newPage(c, "", d)
	}
	return s.write(c, status, name, p)
}

func (s *Server) write(c *fiber.Ctx, status int, name string, p *page) error {
	t, ok := s.views.pages[name]
	if !ok {
		return fmt.Errorf("server: no template %q", name)
	}
	buf := s.views.pool.Get().(*bytes.Buffer)
	buf.Reset()
	defer s.views.pool.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout.html", p); err != nil {
		return fmt.Errorf("server: render %s: %w", name, err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	// SetBody copies. c.Send would keep a reference to the pooled buffer,
	// which the deferred Put hands to the next request before fasthttp has
	// written this response: people would get parts of each other's pages.
	c.Response().SetBody(buf.Bytes())
	return nil
}

// redirect sends a 303 to a local path.
func redirect(c *fiber.Ctx, to string) error { return c.Redirect(to, fiber.StatusSeeOther) }

// localPath returns next if it is a plain path on this site, else
// fallback. It stops open redirects: no scheme or host, no backslash or
// control character, no "//" and no "." or ".." segment — also when
// percent-encoded — because a browser resolves "/..//evil.example" to the
// path "//evil.example", a scheme-relative URL the moment anything echoes it.
func localPath(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.ContainsAny(next, "\\\r\n\t\x00") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return fallback
	}
	for _, p := range []string{u.Path, u.EscapedPath(), strings.ToLower(u.RawPath)} {
		if strings.Contains(p, "//") || strings.Contains(p, "%2f") || strings.Contains(p, "%5c") {
			return fallback
		}
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				return fallback
			}
		}
	}
	return next
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

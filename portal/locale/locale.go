// Package locale translates the portal's texts. Catalogs are go-i18n message
// files in i18n/, named <area>.<lang>.yaml; zh-CN is the default language
// and English the second.
package locale

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/nicksnyder/go-i18n/v2/i18n"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"

	"tzportal/portal"
)

// Languages the portal speaks, the default first.
const (
	Chinese = "zh-CN"
	English = "en"
)

// Supported lists the languages in the order the switch shows them.
var Supported = []string{Chinese, English}

// Catalog holds every message in every language.
type Catalog struct {
	bundle *i18n.Bundle
	byLang map[string]*L
	ids    map[string]map[string]bool // lang → message ids
}

// Load parses every *.yaml in fsys.
func Load(fsys fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.SimplifiedChinese)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	c := &Catalog{bundle: b, byLang: map[string]*L{}, ids: map[string]map[string]bool{}}
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		lang := langOf(name)
		if lang != Chinese && lang != English {
			return nil, fmt.Errorf("i18n/%s: the file name must end in .zh-CN.yaml or .en.yaml", name)
		}
		mf, err := b.ParseMessageFileBytes(src, name)
		if err != nil {
			return nil, fmt.Errorf("i18n/%s: %w", name, err)
		}
		if c.ids[lang] == nil {
			c.ids[lang] = map[string]bool{}
		}
		for _, m := range mf.Messages {
			if c.ids[lang][m.ID] {
				return nil, fmt.Errorf("i18n/%s: message %q is defined twice", name, m.ID)
			}
			c.ids[lang][m.ID] = true
		}
	}
	for _, lang := range Supported {
		c.byLang[lang] = &L{Lang: lang, loc: i18n.NewLocalizer(b, lang), c: c}
	}
	return c, nil
}

func langOf(name string) string {
	parts := strings.Split(strings.TrimSuffix(path.Base(name), ".yaml"), ".")
	return parts[len(parts)-1]
}

// Missing returns, for each language, the message ids the other language has
// and it lacks. Tests require it to be empty.
func (c *Catalog) Missing() map[string][]string {
	out := map[string][]string{}
	for _, a := range Supported {
		for _, b := range Supported {
			for id := range c.ids[b] {
				if !c.ids[a][id] {
					out[a] = append(out[a], id)
				}
			}
		}
		sort.Strings(out[a])
	}
	return out
}

// Has reports whether the message id exists in the default language.
func (c *Catalog) Has(id string) bool { return c.ids[Chinese][id] }

// L returns the localizer for lang, the default language if unsupported.
func (c *Catalog) L(lang string) *L {
	if l, ok := c.byLang[Match(lang)]; ok {
		return l
	}
	return c.byLang[Chinese]
}

// Match maps a language tag to a supported language ("" if none): en-US →
// en, zh-Hans-CN → zh-CN.
func Match(tag string) string {
	tag = strings.ToLower(strings.TrimSpace(tag))
	switch {
	case tag == "":
		return ""
	case strings.HasPrefix(tag, "zh"):
		return Chinese
	case strings.HasPrefix(tag, "en"):
		return English
	}
	return ""
}

// FromAcceptLanguage returns the first supported language of an
// Accept-Language header, or "".
func FromAcceptLanguage(h string) string {
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return ""
	}
	for _, t := range tags {
		if m := Match(t.String()); m != "" {
			return m
		}
	}
	return ""
}

// L translates into one language. It is safe for concurrent use.
type L struct {
	Lang string
	loc  *i18n.Localizer
	c    *Catalog
	// plain memoizes messages asked for without data: a worklist asks for
	// the same labels fifty times a page, and go-i18n works each out anew.
	plain sync.Map // id → string
}

// T returns the message id translated with data; a missing message returns
// the id itself, which the catalog tests never let ship.
func (l *L) T(id string, data ...map[string]any) string {
	noData := len(data) == 0 || data[0] == nil
	if noData {
		if s, ok := l.plain.Load(id); ok {
			return s.(string)
		}
	}
	cfg := &i18n.LocalizeConfig{MessageID: id}
	if !noData {
		cfg.TemplateData = data[0]
	}
	s, err := l.loc.Localize(cfg)
	if err != nil {
		return id
	}
	if noData {
		l.plain.Store(id, s)
	}
	return s
}

// Field returns the sentence for a field error, naming the field.
func (l *L) Field(fe portal.FieldError) string {
	name := strings.Split(fe.Field, "[")[0]
	label := l.T("field." + name)
	return l.T("validation."+fe.Rule, map[string]any{"Field": label, "Param": fe.Param})
}

// Error returns the sentence for an error's message id.
func (l *L) Error(e *portal.Error) string {
	if e.Message == "" {
		return l.T("error." + e.Code)
	}
	return l.T(e.Message, e.Data)
}

// Package locale translates the portal's texts. Catalogs are go-i18n message
// files in i18n/, named <area>.<lang>.yaml; zh-CN is the default language
// and English the second.
package locale

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
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

// Load parses every *.yaml in each fsys (i18n/, and the folders of services
// shipped with their own files).
func Load(sources ...fs.FS) (*Catalog, error) {
	b := i18n.NewBundle(language.SimplifiedChinese)
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	c := &Catalog{bundle: b, byLang: map[string]*L{}, ids: map[string]map[string]bool{}}
	for _, fsys := range sources {
		if err := c.load(fsys); err != nil {
			return nil, err
		}
	}
	for _, lang := range Supported {
		c.byLang[lang] = &L{Lang: lang, loc: i18n.NewLocalizer(b, lang), c: c}
	}
	return c, nil
}

func (c *Catalog) load(fsys fs.FS) error {
	b := c.bundle
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return err
	}
	for _, name := range names {
		src, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		lang := langOf(name)
		if lang != Chinese && lang != English {
			return fmt.Errorf("i18n/%s: the file name must end in .zh-CN.yaml or .en.yaml", name)
		}
		mf, err := b.ParseMessageFileBytes(src, name)
		if err != nil {
			return fmt.Errorf("i18n/%s: %w", name, err)
		}
		if c.ids[lang] == nil {
			c.ids[lang] = map[string]bool{}
		}
		for _, m := range mf.Messages {
			if c.ids[lang][m.ID] {
				return fmt.Errorf("i18n/%s: message %q is defined twice", name, m.ID)
			}
			c.ids[lang][m.ID] = true
		}
	}
	return nil
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

// Has reports whether the message id exists.
func (l *L) Has(id string) bool { return l.c.ids[l.Lang][id] }

// IDs returns the message ids that start with prefix, sorted (the audit
// view offers every action its catalog names).
func (l *L) IDs(prefix string) []string {
	var out []string
	for id := range l.c.ids[l.Lang] {
		if strings.HasPrefix(id, prefix) {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Label returns the label of a field under a message-id prefix (e.g.
// "hukou-transfer.field"): <prefix>.<name>; for an entry of a list,
// "members[1].id_number", <prefix>.members.id_number with N = 2 (entries
// are counted from 1 for people); else the portal's own field.<name>.
func (l *L) Label(prefix, field string) string {
	list, index, name := splitField(field)
	if prefix != "" {
		switch {
		case list != "" && name != "" && l.Has(prefix+"."+list+"."+name):
			return l.T(prefix+"."+list+"."+name, map[string]any{"N": index + 1})
		case list != "" && name == "" && l.Has(prefix+"."+list+".entry"):
			return l.T(prefix+"."+list+".entry", map[string]any{"N": index + 1})
		case list != "" && l.Has(prefix+"."+list):
			return l.T(prefix + "." + list) // an entry of a plain list (items[2]): the list's label
		case list == "" && l.Has(prefix+"."+name):
			return l.T(prefix + "." + name)
		}
	}
	if list != "" {
		name = list
	}
	return l.T("field." + name)
}

// splitField splits "members[1].id_number" into members, 1, id_number;
// "items[2]" into items, 2, ""; "division" into "", 0, division.
func splitField(field string) (list string, index int, name string) {
	open := strings.IndexByte(field, '[')
	if open < 0 {
		return "", 0, field
	}
	shut := strings.IndexByte(field[open:], ']')
	if shut < 0 {
		return "", 0, field
	}
	n, err := strconv.Atoi(field[open+1 : open+shut])
	if err != nil {
		return "", 0, field
	}
	return field[:open], n, strings.TrimPrefix(field[open+shut+1:], ".")
}

// Field returns the sentence for a field error, naming the field by its
// label under prefix (see Label). A service may word a rule of its own as
// <service>.validation.<rule>.
func (l *L) Field(fe portal.FieldError, prefix string) string {
	data := map[string]any{"Field": l.Label(prefix, fe.Field), "Param": fe.Param}
	if svc, _, ok := strings.Cut(prefix, "."); ok && l.Has(svc+".validation."+fe.Rule) {
		return l.T(svc+".validation."+fe.Rule, data)
	}
	return l.T("validation."+fe.Rule, data)
}

// Error returns the sentence for an error's message id. Data naming a
// service by id ("Service") also gives its name ("ServiceName"), and an
// event of it ("Event") its label ("EventLabel").
func (l *L) Error(e *portal.Error) string {
	if e.Message == "" {
		return l.T("error." + e.Code)
	}
	data := e.Data
	if svc, ok := e.Data["Service"].(string); ok {
		data = make(map[string]any, len(e.Data)+2)
		for k, v := range e.Data {
			data[k] = v
		}
		data["ServiceName"] = l.T(svc + ".name")
		if ev, ok := e.Data["Event"].(string); ok {
			data["EventLabel"] = l.T(svc + ".event." + ev)
		}
	}
	return l.T(e.Message, data)
}

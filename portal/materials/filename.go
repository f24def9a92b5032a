package materials

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxNameRunes bounds a display filename: long enough for any real name,
// short enough for a table column, a header and every file system.
const maxNameRunes = 100

// maxExtRunes is the longest suffix SafeFilename keeps as an extension when it
// shortens a name; a longer one is just part of the name.
const maxExtRunes = 16

// SafeFilename makes a display filename safe: base name only (no
// directories, split at both / and \), control and invisible formatting
// characters (such as a right-to-left override that disguises "exe.pdf"),
// quotes and ; removed, spaces trimmed, at most 100 runes keeping the
// extension, and "file" when nothing is left. Other characters, Chinese
// included, are kept. The name is only ever shown or offered for download:
// files are stored under keys, never under it.
func SafeFilename(name string) string {
	name = name[strings.LastIndexAny(name, `/\`)+1:]
	name = strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError, // also invalid UTF-8
			unicode.IsControl(r),
			unicode.Is(unicode.Cf, r),
			r == '"', r == '\'', r == ';':
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if strings.Trim(name, ".") == "" { // "", "." and ".." name no file
		return "file"
	}
	if utf8.RuneCountInString(name) <= maxNameRunes {
		return name
	}
	stem, ext := name, ""
	if i := strings.LastIndexByte(name, '.'); i > 0 && utf8.RuneCountInString(name[i:]) <= maxExtRunes {
		stem, ext = name[:i], name[i:]
	}
	r := []rune(stem)
	stem = strings.TrimRightFunc(string(r[:maxNameRunes-utf8.RuneCountInString(ext)]), unicode.IsSpace)
	return stem + ext
}

// ContentDisposition returns a Content-Disposition header value for name
// that every browser reads and no name can break:
//
//	inline; filename="<ASCII fallback>"; filename*=UTF-8''<RFC 5987 encoding>
//
// The name goes through SafeFilename first. In the ASCII fallback, for
// browsers that ignore filename*, every non-ASCII character and % (which some
// browsers decode) is replaced by _. disposition is "inline" or
// "attachment"; anything else gives "attachment", the safe choice.
func ContentDisposition(disposition, name string) string {
	if !strings.EqualFold(strings.TrimSpace(disposition), "inline") {
		disposition = "attachment"
	} else {
		disposition = "inline"
	}
	name = SafeFilename(name)
	var b strings.Builder
	b.WriteString(disposition)
	b.WriteString(`; filename="`)
	for _, r := range name {
		if r < 0x20 || r > 0x7E || r == '"' || r == '\\' || r == '%' {
			r = '_'
		}
		b.WriteRune(r)
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		if c := name[i]; isAttrChar(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0x0F])
		}
	}
	return b.String()
}

// isAttrChar reports whether c may appear unencoded in an RFC 5987 value.
func isAttrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}

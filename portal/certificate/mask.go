package certificate

import (
	"strings"
	"unicode/utf8"
)

// idLen is the length of a resident ID number (居民身份证号码).
const idLen = 18

// MaskHolder returns the first rune of name followed by one "*" for each
// further rune: "张三" becomes "张*", "欧阳娜娜" becomes "欧***", and "" stays
// "". It counts runes, not bytes, so a Chinese name keeps its first character
// whole; the number of stars still tells a verifier the name's length, which is
// enough to compare against a document in hand.
func MaskHolder(name string) string {
	first, size := utf8.DecodeRuneInString(name)
	if size == 0 {
		return ""
	}
	return string(first) + strings.Repeat("*", utf8.RuneCountInString(name[size:]))
}

// MaskID returns an 18-character ID number with only its first 4 and last 4
// characters kept and 10 stars between: "321202199001010017" becomes
// "3212**********0017". That keeps enough (province and city, sequence and
// check digit) to compare with the document in hand, and hides the county and
// the birth date. Any other length is all stars, one per character, because
// there is no known layout to keep parts of.
func MaskID(id string) string {
	r := []rune(id)
	if len(r) != idLen {
		return strings.Repeat("*", len(r))
	}
	return string(r[:4]) + strings.Repeat("*", idLen-8) + string(r[idLen-4:])
}

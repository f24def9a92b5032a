package validate

import (
	"regexp"
	"strings"
	"time"
	"unicode"
)

// idWeights are the ISO 7064 MOD 11-2 weights of the first 17 digits of a
// resident ID number (GB 11643-1999).
var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

// idCheck maps the weighted sum mod 11 to the check character.
const idCheck = "10X98765432"

// IDCheckChar is the check character of an ID number's first 17 digits
// (GB 11643, ISO 7064 MOD 11-2). The digits are not checked: callers do.
func IDCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheck[sum%11]
}

// idEarliest is the earliest birth date accepted, in the YYYYMMDD form that
// compares correctly as a string.
const idEarliest = "19000101"

// IDNumber checks a resident ID number (GB 11643-1999) and returns it with an
// upper-case check character. It needs 18 characters: 17 digits and a digit or
// X (x accepted); characters 7–14 a real date YYYYMMDD from 1900-01-01 up to
// today's calendar date in today's location (pass a time in Asia/Shanghai);
// and the ISO 7064 MOD 11-2 check character. It does not check the address
// code: abolished codes stay valid on old cards. It does not trim: callers do.
func IDNumber(s string, today time.Time) (normalized string, ok bool) {
	if len(s) != 18 {
		return "", false
	}
	for i := 0; i < 17; i++ {
		if s[i] < '0' || s[i] > '9' {
			return "", false
		}
	}
	check := s[17]
	if check == 'x' {
		check = 'X'
	}
	if check != IDCheckChar(s[:17]) {
		return "", false
	}
	birth := s[6:14]
	if !realDate(birth, "20060102") || birth < idEarliest || birth > today.Format("20060102") {
		return "", false
	}
	return s[:17] + string(check), true
}

// realDate reports whether s is a date in layout that exists on the calendar.
// The round trip rejects what time.Parse would accept in a looser spelling.
func realDate(s, layout string) bool {
	d, err := time.Parse(layout, s)
	return err == nil && d.Format(layout) == s
}

// mobilePattern is a mainland mobile number once the country code is gone.
var mobilePattern = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// Mobile checks a mainland mobile number and returns its 11 digits. People
// type numbers grouped with spaces or dashes and sometimes with the country
// code (+86 or 86), so those are removed first.
func Mobile(s string) (normalized string, ok bool) {
	m := strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) {
			return -1
		}
		return r
	}, s)
	switch {
	case strings.HasPrefix(m, "+86"):
		m = m[3:]
	case len(m) == 13 && strings.HasPrefix(m, "86"):
		// Only with 13 digits: an 11-digit number never starts with 86, and
		// "86" alone in front of a short number is no country code.
		m = m[2:]
	}
	if !mobilePattern.MatchString(m) {
		return "", false
	}
	return m, true
}

// PasswordClasses counts the kinds of character in p among lower-case
// letters, upper-case letters, digits and everything else (symbols, spaces,
// Chinese characters).
func PasswordClasses(p string) int {
	var lower, upper, digit, other bool
	for _, r := range p {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			other = true
		}
	}
	n := 0
	for _, has := range []bool{lower, upper, digit, other} {
		if has {
			n++
		}
	}
	return n
}

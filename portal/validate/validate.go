// Package validate holds the portal's one validator instance: the custom tags
// for Chinese identity data (idnumber, mobile, division), dates, passwords, and
// the mapping of failures to portal.FieldError.
//
// Translations live in i18n/validate.<lang>.yaml, one message per tag
// (validation.<tag>). The server fills {{.Field}} with the localized field
// label and {{.Param}} with FieldError.Param.
//
// For the password tag, Param is only the minimum length; the messages spell
// out "three of upper case, lower case, digits, symbols" in words. If
// Options.PasswordMinClasses changes, edit validation.password in both
// translation files with it.
package validate

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"tzportal/portal"
)

// Defaults for a zero Options field.
const (
	DefaultPasswordMinLen     = 8
	DefaultPasswordMinClasses = 3
)

// shanghai is China Standard Time. A fixed zone is exact here (China has had
// no daylight saving since 1991) and, unlike time.LoadLocation, does not
// depend on the host's tzdata.
var shanghai = time.FixedZone("CST", 8*60*60)

// supportedTags is every tag Struct may report; each needs a translation.
// Built-ins not listed here make Struct fail loudly (EINTERNAL) instead of
// showing a user an untranslated message id.
var supportedTags = [...]string{
	// built-in
	"required", "min", "max", "len", "oneof",
	// custom
	"idnumber", "mobile", "password", "division", "county", "date", "notfuture",
	// every string field, checked before the tags; a one-line answer (CleanLine)
	"text", "line",
	// a list with too many entries (Var's max on a slice)
	"max_items",
}

// Tags returns every tag Struct can report, built-in and custom, so that tests
// can check each has a translation.
func Tags() []string {
	return append([]string(nil), supportedTags[:]...)
}

// Options configures a Validator. Zero fields take safe defaults: Now is
// time.Now, a nil IsLeafDivision accepts no division (fail closed), and the
// password policy falls back to DefaultPasswordMinLen and
// DefaultPasswordMinClasses.
type Options struct {
	Now                func() time.Time
	IsLeafDivision     func(code string) bool
	IsCounty           func(code string) bool // a county-level division of China (hukou origins)
	PasswordMinLen     int
	PasswordMinClasses int
}

// Validator validates form structs. It is safe for concurrent use; all
// registrations happen in New because the underlying validator's are not.
type Validator struct {
	v      *validator.Validate
	minLen int
}

// New returns the Validator, with every custom tag registered.
func New(o Options) *Validator {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IsLeafDivision == nil {
		o.IsLeafDivision = func(string) bool { return false }
	}
	if o.IsCounty == nil {
		o.IsCounty = func(string) bool { return false }
	}
	if o.PasswordMinLen <= 0 {
		o.PasswordMinLen = DefaultPasswordMinLen
	}
	if o.PasswordMinClasses <= 0 {
		o.PasswordMinClasses = DefaultPasswordMinClasses
	}

	// WithTagNameFuncBlankOmit lets an embedded struct drop out of the error
	// path, as encoding/json flattens it.
	v := validator.New(validator.WithRequiredStructEnabled(), validator.WithTagNameFuncBlankOmit())
	v.RegisterTagNameFunc(fieldName)

	rules := map[string]func(string) bool{
		"idnumber": func(s string) bool {
			_, ok := IDNumber(s, o.Now().In(shanghai))
			return ok
		},
		"mobile": func(s string) bool {
			_, ok := Mobile(s)
			return ok
		},
		"password": func(s string) bool {
			return len([]rune(s)) >= o.PasswordMinLen && PasswordClasses(s) >= o.PasswordMinClasses
		},
		"division": func(s string) bool {
			return len(s) == 9 && allDigits(s) && o.IsLeafDivision(s)
		},
		"county": func(s string) bool {
			return len(s) == 6 && allDigits(s) && o.IsCounty(s)
		},
		"date": func(s string) bool {
			return realDate(s, time.DateOnly)
		},
		"notfuture": func(s string) bool {
			// Dates in the same layout compare as strings.
			return realDate(s, time.DateOnly) && s <= o.Now().In(shanghai).Format(time.DateOnly)
		},
	}
	for tag, ok := range rules {
		if err := v.RegisterValidation(tag, stringRule(tag, ok)); err != nil {
			// Only an empty or reserved tag name fails, which is a bug here.
			panic(fmt.Sprintf("validate.New: register %s: %v", tag, err))
		}
	}
	return &Validator{v: v, minLen: o.PasswordMinLen}
}

// stringRule adapts a rule on strings to a validator.Func. A custom tag on a
// field that is not a string is a programming error, so it panics, as the
// built-in tags do on types they cannot handle.
func stringRule(tag string, ok func(string) bool) validator.Func {
	return func(fl validator.FieldLevel) bool {
		f := fl.Field()
		if f.Kind() != reflect.String {
			panic(fmt.Sprintf("validate: tag %s on field %s of kind %s, want string", tag, fl.StructFieldName(), f.Kind()))
		}
		return ok(f.String())
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// fieldName names a field in errors as clients know it: its json name, else
// its form name, else its Go name ("-" counts as no name). An untagged
// embedded struct gets no name, so its fields appear at the parent's level as
// in JSON.
func fieldName(f reflect.StructField) string {
	for _, key := range []string{"json", "form"} {
		name, _, _ := strings.Cut(f.Tag.Get(key), ",")
		if name != "" && name != "-" {
			return name
		}
	}
	if f.Anonymous {
		t := f.Type
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() == reflect.Struct {
			return ""
		}
	}
	return f.Name
}

// Struct validates s (a struct or a pointer to one). It returns nil, an
// EINVALID *portal.Error with one FieldError per failing field, or an
// EINTERNAL *portal.Error when s cannot be validated at all or fails a tag
// that has no translation. It does not modify s.
func (v *Validator) Struct(s any) error {
	if bad := textFields(reflect.ValueOf(s), ""); len(bad) > 0 {
		return portal.Invalid(bad...)
	}
	err := v.v.Struct(s)
	if err == nil {
		return nil
	}
	var errs validator.ValidationErrors
	if !errors.As(err, &errs) {
		return internal(fmt.Errorf("validate.Struct(%T): %w", s, err))
	}
	top := topName(s)
	fields := make([]portal.FieldError, 0, len(errs))
	for _, fe := range errs {
		tag := fe.Tag()
		if !supported(tag) {
			return internal(fmt.Errorf("validate.Struct(%T): field %s failed tag %q, which has no translation; add it to Tags and i18n/validate.*.yaml", s, fe.Namespace(), tag))
		}
		param := fe.Param()
		if tag == "password" {
			// The tag itself carries no parameter; the message needs the policy.
			param = strconv.Itoa(v.minLen)
		}
		fields = append(fields, portal.FieldError{Field: path(fe.Namespace(), top), Rule: tag, Param: param})
	}
	return portal.Invalid(fields...)
}

// Var validates one value against tag (e.g. "required,max=500" or
// "required,date,notfuture") and returns its failures as field errors of
// field. An unsupported tag is a programming error and panics.
func (v *Validator) Var(field string, value any, tag string) []portal.FieldError {
	err := v.v.Var(value, tag)
	if err == nil {
		return nil
	}
	var errs validator.ValidationErrors
	if !errors.As(err, &errs) {
		panic(fmt.Sprintf("validate.Var(%s, %q): %v", field, tag, err))
	}
	out := make([]portal.FieldError, 0, len(errs))
	for _, fe := range errs {
		if !supported(fe.Tag()) {
			panic(fmt.Sprintf("validate.Var(%s): tag %q has no translation", field, fe.Tag()))
		}
		out = append(out, portal.FieldError{Field: field, Rule: fe.Tag(), Param: fe.Param()})
	}
	return out
}

func internal(err error) *portal.Error {
	return &portal.Error{Code: portal.EINTERNAL, Message: "error.internal", Err: err}
}

func supported(tag string) bool {
	for _, t := range supportedTags {
		if t == tag {
			return true
		}
	}
	return false
}

// topName is the name the validator puts in front of every namespace: the
// struct's type name, empty for an anonymous struct type.
func topName(s any) string {
	t := reflect.TypeOf(s)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return ""
	}
	return t.Name()
}

// path turns a validator namespace ("Form.items[0].name") into the field path
// a client sees ("items[0].name").
func path(ns, top string) string {
	if top == "" {
		return ns
	}
	if ns == top {
		return ""
	}
	return strings.TrimPrefix(ns, top+".")
}

// CleanText reports whether s is text a person could have typed: valid
// UTF-8 without control characters other than tab and newline. A NUL byte
// or broken UTF-8 is refused before it reaches a database (PostgreSQL
// rejects both; SQLite would store them).
func CleanText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f {
			return false
		}
	}
	return true
}

// CleanLine reports whether s is clean text on one line: no line breaks,
// which a one-line answer (a reference number, an entry of a checklist)
// shown in a timeline or matched on a retry must not carry.
func CleanLine(s string) bool { return CleanText(s) && !strings.ContainsAny(s, "\r\n") }

// TextFields checks every string of s (a struct or a pointer to one, nested
// structs and string slices included) with CleanText, naming fields as the
// JSON does (items[2]).
func TextFields(s any) []portal.FieldError { return textFields(reflect.ValueOf(s), "") }

// textFields returns a "text" field error for every string field of a
// struct (by its json name) that is not CleanText.
func textFields(v reflect.Value, prefix string) []portal.FieldError {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out []portal.FieldError
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name := prefix + fieldName(f)
		fv := v.Field(i)
		for fv.Kind() == reflect.Pointer && !fv.IsNil() {
			fv = fv.Elem()
		}
		switch fv.Kind() {
		case reflect.String:
			if !CleanText(fv.String()) {
				out = append(out, portal.FieldError{Field: name, Rule: "text"})
			}
		case reflect.Struct:
			out = append(out, textFields(fv, name+".")...)
		case reflect.Slice:
			for j := 0; j < fv.Len(); j++ {
				if e := fv.Index(j); e.Kind() == reflect.String && !CleanText(e.String()) {
					out = append(out, portal.FieldError{Field: fmt.Sprintf("%s[%d]", name, j), Rule: "text"})
				}
			}
		}
	}
	return out
}

// TagParam returns the parameter of a validator tag on a struct's field
// ("oneof", "max", …), for forms whose choices and limits are their tags;
// a tag that is not there is a bug of the caller, which panics at start.
func TagParam(s any, field, tag string) string {
	f, ok := reflect.TypeOf(s).FieldByName(field)
	if ok {
		for _, part := range strings.Split(f.Tag.Get("validate"), ",") {
			if v, found := strings.CutPrefix(part, tag+"="); found {
				return v
			}
		}
	}
	panic(fmt.Sprintf("validate.TagParam: %T.%s has no %s tag", s, field, tag))
}

// OneOf returns the values a field's oneof tag allows, in order.
func OneOf(s any, field string) []string { return strings.Fields(TagParam(s, field, "oneof")) }

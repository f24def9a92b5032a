package portal

import (
	"errors"
	"fmt"
)

// Error codes. They are the only vocabulary the server uses to choose a status,
// a page and a problem document (see server/errors.go).
const (
	EINVALID      = "invalid"      // bad input: field errors, 422
	ERULE         = "rule"         // a business rule refused the action, 422
	EUNAUTHORIZED = "unauthorized" // not logged in / bad credentials, 401
	EFORBIDDEN    = "forbidden"    // logged in, but may not do this, 403
	ENOTFOUND     = "not_found"    // no such thing, or outside the caller's reach, 404
	ECONFLICT     = "conflict"     // lost a race or wrong state, 409
	ETOOMANY      = "too_many"     // throttled, 429
	ETOOLARGE     = "too_large"    // body, URL or headers too large, 413
	EUNSUPPORTED  = "unsupported"  // a file of a type not accepted, 415
	EUNAVAILABLE  = "unavailable"  // a dependency is down, 503
	EINTERNAL     = "internal"     // a bug; details only in the log, 500
)

// Error is the one error type that crosses package boundaries. Message is an
// i18n message id (the server localizes it); Data fills its template.
type Error struct {
	Code    string
	Message string         // i18n message id, e.g. "error.case_conflict"
	Data    map[string]any // template data for Message
	Rule    string         // for ERULE: the rule that refused, e.g. "min_residence"
	Fields  []FieldError   // for EINVALID (and a claim another case holds)
	// Labels is the message-id prefix of the fields' labels, e.g.
	// "hukou-transfer.field" ("" for the portal's own forms: "field").
	Labels string
	Err    error // the cause, for logs only
}

// FieldError says that one field of a form is wrong. Rule is a validation tag
// (required, idnumber, min, …); Param its parameter. The server turns it into a
// localized sentence naming the field.
type FieldError struct {
	Field string `json:"field"`
	Rule  string `json:"rule"`
	Param string `json:"param,omitempty"`
}

func (e *Error) Error() string {
	s := e.Code
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Rule != "" {
		s += " (rule " + e.Rule + ")"
	}
	for _, f := range e.Fields {
		s += fmt.Sprintf(" [%s:%s]", f.Field, f.Rule)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and message id.
func Errorf(code, message string, data map[string]any) *Error {
	return &Error{Code: code, Message: message, Data: data}
}

// Invalid returns an EINVALID error carrying field errors.
func Invalid(fields ...FieldError) *Error {
	return &Error{Code: EINVALID, Message: "error.invalid", Fields: fields}
}

// RuleError returns an ERULE error: rule names the refusing rule, message the
// i18n id of the sentence a person can read.
func RuleError(rule, message string, data map[string]any) *Error {
	return &Error{Code: ERULE, Rule: rule, Message: message, Data: data}
}

// Unavailable wraps a dependency failure.
func Unavailable(what string, err error) *Error {
	return &Error{Code: EUNAVAILABLE, Message: "error.unavailable", Data: map[string]any{"What": what}, Err: err}
}

// NotFound is the one answer for "does not exist" and "outside your reach":
// both must look the same from outside.
func NotFound(err error) *Error {
	return &Error{Code: ENOTFOUND, Message: "error.not_found", Err: err}
}

// ErrorCode returns the code of err, EINTERNAL for foreign errors and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

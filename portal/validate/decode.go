package validate

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"

	"tzportal/portal"
)

// DecodeForm decodes a form strictly into v: a field the form does not
// have is refused by name (nothing but the form can be set), a value of the
// wrong type is named, and anything after the object is refused. An empty
// form is {}.
func DecodeForm(raw json.RawMessage, v any) error {
	if len(bytes.TrimSpace(raw)) == 0 {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if fe, ok := JSONFieldError(err); ok {
			return portal.Invalid(fe)
		}
		return portal.Invalid(portal.FieldError{Field: "form", Rule: "json"})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return portal.Invalid(portal.FieldError{Field: "form", Rule: "json"})
	}
	return nil
}

// JSONFieldError names the field an encoding/json decoding error is about:
// an unknown field (rule unknown_field) or a value of the wrong type (rule
// type). ok is false for any other error.
func JSONFieldError(err error) (fe portal.FieldError, ok bool) {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return portal.FieldError{Field: te.Field, Rule: "type"}, true
	}
	const prefix = "json: unknown field "
	if msg := err.Error(); strings.HasPrefix(msg, prefix) {
		if name, uerr := strconv.Unquote(strings.TrimPrefix(msg, prefix)); uerr == nil {
			return portal.FieldError{Field: name, Rule: "unknown_field"}, true
		}
	}
	return portal.FieldError{}, false
}

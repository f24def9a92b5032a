// Package csvfile reads the CSV files operators import (schools, housing
// units): a fixed header, then rows, each reported with its line so that
// the first bad one can refuse the whole file, naming where it is.
package csvfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// LineError is a bad row of an import: the whole file is refused.
type LineError struct {
	Line   int
	Column string
	Reason string
}

func (e *LineError) Error() string {
	return fmt.Sprintf("line %d, column %s: %s", e.Line, e.Column, e.Reason)
}

// Rows reads a file whose first line must be header (a spreadsheet's
// byte-order mark allowed) and calls each for every row with its line; the
// first error — the file's own (a *LineError, column "row"), or each's —
// stops the reading and is returned. A file with no rows is refused with
// what it should have held (none: "no <none> in the file").
func Rows(r io.Reader, header []string, none string, each func(line int, rec []string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = len(header)
	head, err := cr.Read()
	if err != nil {
		return &LineError{Line: 1, Column: "header", Reason: "missing or unreadable: " + reason(err)}
	}
	if len(head) > 0 {
		head[0] = strings.TrimPrefix(head[0], "\ufeff")
	}
	if !slices.Equal(head, header) {
		return &LineError{Line: 1, Column: "header", Reason: "want " + strings.Join(header, ",")}
	}
	rows := 0
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return &LineError{Line: line, Column: "row", Reason: reason(err)}
		}
		if err := each(line, rec); err != nil {
			return err
		}
		rows++
	}
	if rows == 0 {
		return &LineError{Line: 2, Column: "row", Reason: "no " + none + " in the file"}
	}
	return nil
}

// reason is a read error in words, without the csv package's own line
// prefix (the LineError says the line).
func reason(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

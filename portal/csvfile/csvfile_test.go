package csvfile

import (
	"errors"
	"strings"
	"testing"
)

func TestRows(t *testing.T) {
	header := []string{"code", "name"}
	read := func(src string) ([]int, error) {
		var lines []int
		err := Rows(strings.NewReader(src), header, "things", func(line int, rec []string) error {
			if rec[0] == "bad" {
				return &LineError{Line: line, Column: "code", Reason: "bad"}
			}
			lines = append(lines, line)
			return nil
		})
		return lines, err
	}
	if lines, err := read("\ufeffcode,name\na,1\n\nb,2\n"); err != nil || len(lines) != 2 || lines[1] != 4 {
		t.Errorf("a good file with a byte-order mark: %v %v", lines, err)
	}
	for src, want := range map[string]LineError{
		"":                      {Line: 1, Column: "header"},
		"name,code\na,1\n":      {Line: 1, Column: "header"},
		"code,name\n":           {Line: 2, Column: "row", Reason: "no things in the file"},
		"code,name\na,1\nb\n":   {Line: 3, Column: "row"},
		"code,name\na,1\nbad,x": {Line: 3, Column: "code", Reason: "bad"},
	} {
		_, err := read(src)
		var le *LineError
		if !errors.As(err, &le) || le.Line != want.Line || le.Column != want.Column || want.Reason != "" && le.Reason != want.Reason {
			t.Errorf("%q: %v, want line %d column %s", src, err, want.Line, want.Column)
		}
	}
}

package validate

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal"
)

type item struct {
	Name string `json:"name" validate:"required"`
}

// contact is embedded untagged, so its fields sit at the top level as in JSON.
type contact struct {
	Mobile string `json:"mobile" validate:"mobile"`
}

// everyTag uses every supported tag once.
type everyTag struct {
	contact
	Name     string   `json:"name" validate:"required"`
	Nickname string   `json:"nickname" validate:"min=2"`
	Address  string   `json:"address" validate:"max=4"`
	Code     string   `json:"code" validate:"len=6"`
	Gender   string   `json:"gender" validate:"oneof=male female"`
	IDNumber string   `json:"id_number" validate:"idnumber"`
	Password string   `json:"password" validate:"password"`
	Division string   `json:"division" validate:"division"`
	Origin   string   `json:"origin" validate:"county"`
	MovedIn  string   `json:"moved_in" validate:"date,notfuture"`
	Birthday string   `json:"birthday,omitempty" validate:"date,notfuture"`
	Note     string   `json:"-" form:"note" validate:"max=3"`
	Remark   string   `validate:"max=3"`
	Items    []item   `json:"items" validate:"min=1,dive"`
	Tags     []string `json:"tags" validate:"dive,oneof=a b"`
	Spouse   *item    `json:"spouse" validate:"omitempty"`
}

// now is 2026-03-16 01:00 in Shanghai but still 2026-03-15 in UTC, so tests
// see whether "today" is taken in Shanghai.
var now = time.Date(2026, 3, 15, 17, 0, 0, 0, time.UTC)

func mustValidator(tb testing.TB) *Validator {
	tb.Helper()
	return New(Options{
		Now:                func() time.Time { return now },
		IsLeafDivision:     func(code string) bool { return code == "321202001" || code == "321283100" },
		IsCounty:           func(code string) bool { return code == "320321" },
		PasswordMinLen:     8,
		PasswordMinClasses: 3,
	})
}

func validForm() everyTag {
	return everyTag{
		contact:  contact{Mobile: "+86 138 1234 5678"},
		Name:     "张三",
		Nickname: "小张",
		Address:  "海陵城东", // 4 runes, 12 bytes: max counts runes
		Code:     "123456",
		Gender:   "female",
		IDNumber: "11010519491231002x",
		Password: "Taizhou2026",
		Division: "321202001",
		Origin:   "320321",
		MovedIn:  "2026-03-16", // today in Shanghai
		Birthday: "1990-01-01",
		Note:     "abc",
		Remark:   "abc",
		Items:    []item{{Name: "户口簿"}},
		Tags:     []string{"a", "b"},
		Spouse:   &item{Name: "李四"},
	}
}

func invalidForm() everyTag {
	return everyTag{
		contact:  contact{Mobile: "12812345678"},
		Name:     "",
		Nickname: "张", // 1 rune, 3 bytes: min counts runes
		Address:  "泰州市海陵",
		Code:     "12345",
		Gender:   "other",
		IDNumber: "321202199001010018",
		Password: "abcdefgh",
		Division: "321202",
		Origin:   "320322",
		MovedIn:  "2026-02-30",
		Birthday: "2026-03-17",
		Note:     "abcd",
		Remark:   "abcd",
		Items:    []item{{Name: "户口簿"}, {Name: ""}},
		Tags:     []string{"a", "c"},
		Spouse:   &item{},
	}
}

var invalidFields = []portal.FieldError{
	{Field: "mobile", Rule: "mobile"},
	{Field: "name", Rule: "required"},
	{Field: "nickname", Rule: "min", Param: "2"},
	{Field: "address", Rule: "max", Param: "4"},
	{Field: "code", Rule: "len", Param: "6"},
	{Field: "gender", Rule: "oneof", Param: "male female"},
	{Field: "id_number", Rule: "idnumber"},
	{Field: "password", Rule: "password", Param: "8"},
	{Field: "division", Rule: "division"},
	{Field: "origin", Rule: "county"},
	{Field: "moved_in", Rule: "date"},
	{Field: "birthday", Rule: "notfuture"},
	{Field: "note", Rule: "max", Param: "3"},
	{Field: "Remark", Rule: "max", Param: "3"},
	{Field: "items[1].name", Rule: "required"},
	{Field: "tags[1]", Rule: "oneof", Param: "a b"},
	{Field: "spouse.name", Rule: "required"},
}

// checkInvalid asserts err is EINVALID with exactly want.
func checkInvalid(tb testing.TB, err error, want []portal.FieldError) {
	tb.Helper()
	e := portal.AsError(err)
	if e == nil || e.Code != portal.EINVALID {
		tb.Fatalf("err = %v, want an EINVALID *portal.Error", err)
	}
	if diff := cmp.Diff(want, e.Fields); diff != "" {
		tb.Errorf("fields (-want +got):\n%s", diff)
	}
}

func TestStructEveryTag(t *testing.T) {
	v := mustValidator(t)
	t.Run("valid", func(t *testing.T) {
		f := validForm()
		if err := v.Struct(f); err != nil {
			t.Fatalf("Struct(valid) = %v", err)
		}
		if err := v.Struct(&f); err != nil {
			t.Fatalf("Struct(&valid) = %v", err)
		}
		if diff := cmp.Diff(validForm(), f, cmp.AllowUnexported(everyTag{})); diff != "" {
			t.Errorf("Struct modified its input (-before +after):\n%s", diff)
		}
	})
	t.Run("invalid", func(t *testing.T) {
		checkInvalid(t, v.Struct(invalidForm()), invalidFields)
	})
	t.Run("invalid by pointer", func(t *testing.T) {
		f := invalidForm()
		checkInvalid(t, v.Struct(&f), invalidFields)
	})
}

func TestStructCases(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name   string
		change func(*everyTag)
		want   []portal.FieldError
	}{
		{"no items", func(f *everyTag) { f.Items = nil }, []portal.FieldError{{Field: "items", Rule: "min", Param: "1"}}},
		{"nil spouse allowed", func(f *everyTag) { f.Spouse = nil }, nil},
		{"empty id number", func(f *everyTag) { f.IDNumber = "" }, []portal.FieldError{{Field: "id_number", Rule: "idnumber"}}},
		{"password too short", func(f *everyTag) { f.Password = "Ab1!xyz" }, []portal.FieldError{{Field: "password", Rule: "password", Param: "8"}}},
		{"password two classes", func(f *everyTag) { f.Password = "abcd12345" }, []portal.FieldError{{Field: "password", Rule: "password", Param: "8"}}},
		{"password of Chinese characters counts runes", func(f *everyTag) { f.Password = "泰州Ab1" }, []portal.FieldError{{Field: "password", Rule: "password", Param: "8"}}},
		{"9-digit division not a leaf", func(f *everyTag) { f.Division = "321202999" }, []portal.FieldError{{Field: "division", Rule: "division"}}},
		{"division with letters", func(f *everyTag) { f.Division = "32120200a" }, []portal.FieldError{{Field: "division", Rule: "division"}}},
		{"date with one-digit month", func(f *everyTag) { f.Birthday = "1990-1-01" }, []portal.FieldError{{Field: "birthday", Rule: "date"}}},
		{"date in another layout", func(f *everyTag) { f.Birthday = "1990/01/01" }, []portal.FieldError{{Field: "birthday", Rule: "date"}}},
		{"leap day", func(f *everyTag) { f.Birthday = "2024-02-29" }, nil},
		{"not a leap year", func(f *everyTag) { f.Birthday = "2025-02-29" }, []portal.FieldError{{Field: "birthday", Rule: "date"}}},
		{"tomorrow in Shanghai", func(f *everyTag) { f.MovedIn = "2026-03-17" }, []portal.FieldError{{Field: "moved_in", Rule: "notfuture"}}},
		{"id number born today in Shanghai", func(f *everyTag) { f.IDNumber = "321202202603160017" }, nil},
		{"empty date", func(f *everyTag) { f.MovedIn = "" }, []portal.FieldError{{Field: "moved_in", Rule: "date"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := validForm()
			tt.change(&f)
			err := v.Struct(f)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Struct = %v, want nil", err)
				}
				return
			}
			checkInvalid(t, err, tt.want)
		})
	}
}

func TestPasswordPolicyParam(t *testing.T) {
	v := New(Options{PasswordMinLen: 12, PasswordMinClasses: 2})
	type form struct {
		Password string `json:"password" validate:"password"`
	}
	if err := v.Struct(form{Password: "abcdefgh1234"}); err != nil {
		t.Errorf("12 chars, 2 classes: %v", err)
	}
	checkInvalid(t, v.Struct(form{Password: "Abcdefgh123"}), []portal.FieldError{{Field: "password", Rule: "password", Param: "12"}})
	checkInvalid(t, v.Struct(form{Password: "abcdefghijkl"}), []portal.FieldError{{Field: "password", Rule: "password", Param: "12"}})
}

func TestDefaults(t *testing.T) {
	v := New(Options{})
	type form struct {
		Division string `json:"division" validate:"division"`
		Password string `json:"password" validate:"password"`
	}
	// A nil IsLeafDivision accepts nothing, and the password policy defaults apply.
	checkInvalid(t, v.Struct(form{Division: "321202001", Password: "Abc1234"}), []portal.FieldError{
		{Field: "division", Rule: "division"},
		{Field: "password", Rule: "password", Param: "8"},
	})
	if err := v.Struct(struct {
		Password string `validate:"password"`
	}{"Abc12345"}); err != nil {
		t.Errorf("default policy rejected Abc12345: %v", err)
	}
}

func TestAnonymousStruct(t *testing.T) {
	v := mustValidator(t)
	err := v.Struct(struct {
		Mobile string `json:"mobile" validate:"required,mobile"`
	}{})
	checkInvalid(t, err, []portal.FieldError{{Field: "mobile", Rule: "required"}})
}

func TestStructInternal(t *testing.T) {
	v := mustValidator(t)
	tests := []struct {
		name string
		in   any
	}{
		{"nil", nil},
		{"not a struct", 42},
		{"nil pointer", (*everyTag)(nil)},
		{"untranslated tag", struct {
			Email string `json:"email" validate:"email"`
		}{"not an email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := v.Struct(tt.in)
			if got := portal.ErrorCode(err); got != portal.EINTERNAL {
				t.Fatalf("Struct(%#v) = %v (code %q), want EINTERNAL", tt.in, err, got)
			}
			if e := portal.AsError(err); e == nil || e.Err == nil {
				t.Errorf("EINTERNAL error %v carries no cause", err)
			}
		})
	}
}

func TestCustomTagOnNonString(t *testing.T) {
	v := mustValidator(t)
	defer func() {
		if recover() == nil {
			t.Error("mobile tag on an int field did not panic")
		}
	}()
	_ = v.Struct(struct {
		Mobile int `validate:"mobile"`
	}{13812345678})
}

func TestTagsAreReported(t *testing.T) {
	// text is checked before the tags (TestTextIsClean); line is the
	// engine's one-line inputs (TestCleanLine, workflow's engine tests);
	// max_items is Var's max on a list, as the engine reports it
	// (TestVarNamesTheField).
	got := map[string]bool{"text": true, "line": true, "max_items": true}
	for _, f := range invalidFields {
		got[f.Rule] = true
	}
	for _, tag := range Tags() {
		if !got[tag] {
			t.Errorf("tag %s not exercised by invalidForm", tag)
		}
	}
	if len(got) != len(Tags()) {
		t.Errorf("invalidForm reports %d tags, Tags() has %d", len(got), len(Tags()))
	}
}

func TestStructConcurrent(t *testing.T) {
	v := mustValidator(t)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if err := v.Struct(validForm()); err != nil {
					t.Errorf("goroutine %d: Struct(valid) = %v", g, err)
					return
				}
				e := portal.AsError(v.Struct(invalidForm()))
				if e == nil {
					t.Errorf("goroutine %d: invalid form passed", g)
					return
				}
				if diff := cmp.Diff(invalidFields, e.Fields); diff != "" {
					t.Errorf("goroutine %d: fields (-want +got):\n%s", g, diff)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestTextIsClean: NUL bytes, other control characters and broken UTF-8 in
// any string field are refused, naming each field, before any other rule.
func TestTextIsClean(t *testing.T) {
	v := mustValidator(t)
	type nested struct {
		Note string `json:"note"`
	}
	form := struct {
		Name  string   `json:"name" validate:"required"`
		Addr  string   `json:"address"`
		Lines []string `json:"items"`
		Sub   nested   `json:"sub"`
		Fine  string   `json:"fine"`
	}{Name: "a\x00b", Addr: "ab\xff\xfe", Lines: []string{"ok", "bell\a"}, Sub: nested{Note: "esc\x1b["}, Fine: "第一行\n第二行\t🙂 <b>"}
	checkInvalid(t, v.Struct(form), []portal.FieldError{
		{Field: "name", Rule: "text"}, {Field: "address", Rule: "text"}, {Field: "items[1]", Rule: "text"}, {Field: "sub.note", Rule: "text"},
	})
	for s, want := range map[string]bool{"": true, "张三": true, "a\nb\tc": true, "\u202eevil": true, "a\x00": false, "\xc3\x28": false, "del\x7f": false} {
		if got := CleanText(s); got != want {
			t.Errorf("CleanText(%q) = %v", s, got)
		}
	}
}

func TestVarNamesTheField(t *testing.T) {
	v := mustValidator(t)
	if got := v.Var("reason", "", "required,max=5"); len(got) != 1 || got[0] != (portal.FieldError{Field: "reason", Rule: "required"}) {
		t.Errorf("required: %v", got)
	}
	if got := v.Var("reason", "六个字的理由", "required,max=5"); len(got) != 1 || got[0] != (portal.FieldError{Field: "reason", Rule: "max", Param: "5"}) {
		t.Errorf("max counts characters: %v", got)
	}
	if got := v.Var("confirmed_on", "2026-03-17", "required,date,notfuture"); len(got) != 1 || got[0].Rule != "notfuture" {
		t.Errorf("a date after today in Shanghai: %v", got)
	}
	if got := v.Var("confirmed_on", "", "omitempty,date"); got != nil {
		t.Errorf("an optional empty date: %v", got)
	}
	if got := v.Var("items", []string{"a", "b", "c"}, "required,max=2"); len(got) != 1 || got[0].Rule != "max" {
		t.Errorf("a list too long: %v", got)
	}
}

func TestCleanLine(t *testing.T) {
	for s, want := range map[string]bool{"QC-2026-001": true, "丰公户迁字〔2026〕第1138号": true, "a\tb": true,
		"a\nb": false, "a\rb": false, "a\x00b": false} {
		if CleanLine(s) != want {
			t.Errorf("CleanLine(%q) = %v", s, !want)
		}
	}
}

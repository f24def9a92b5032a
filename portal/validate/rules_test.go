package validate

import (
	"testing"
	"time"
)

// today is the fixed "now" of the ID number tests.
var today = time.Date(2026, 3, 15, 12, 0, 0, 0, shanghai)

func TestIDNumber(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"valid with X", "11010519491231002X", "11010519491231002X", true},
		{"valid Taizhou Hailing", "321202199001010017", "321202199001010017", true},
		{"valid Taizhou Taixing", "321283198506150027", "321283198506150027", true},
		{"lowercase x upper-cased", "11010519491231002x", "11010519491231002X", true},
		{"leap day 2000", "32120220000229001X", "32120220000229001X", true},
		{"born today", "321202202603150011", "321202202603150011", true},
		{"earliest date", "321202190001010016", "321202190001010016", true},
		{"wrong checksum", "321202199001010018", "", false},
		{"X where a digit is due", "32120219900101001X", "", false},
		{"Feb 30", "321202199002300016", "", false},
		{"Feb 29 of 1900, not a leap year", "321202190002290013", "", false},
		{"born tomorrow", "321202202603160017", "", false},
		{"future birth date", "321202203001010016", "", false},
		{"before 1900", "321202189912310011", "", false},
		{"17 chars", "32120219900101001", "", false},
		{"19 chars", "3212021990010100170", "", false},
		{"letter inside", "3212021990A1010017", "", false},
		{"X inside", "32120219900101X017", "", false},
		{"full-width digit", "３21202199001010017", "", false},
		{"spaces not trimmed", " 321202199001010017", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := IDNumber(tt.in, today)
			if got != tt.want || ok != tt.ok {
				t.Errorf("IDNumber(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestIDNumberTodayInLocation checks that "today" is the calendar date where
// today is expressed: 2026-03-16 01:00 in Shanghai is still 03-15 in UTC.
func TestIDNumberTodayInLocation(t *testing.T) {
	now := time.Date(2026, 3, 16, 1, 0, 0, 0, shanghai)
	if _, ok := IDNumber("321202202603160017", now); !ok {
		t.Error("born today in Shanghai rejected")
	}
	if _, ok := IDNumber("321202202603160017", now.UTC()); ok {
		t.Error("born tomorrow in UTC accepted")
	}
}

func TestMobile(t *testing.T) {
	tests := []struct {
		name, in, want string
		ok             bool
	}{
		{"plain", "13812345678", "13812345678", true},
		{"+86 with spaces", "+86 138 1234 5678", "13812345678", true},
		{"86 prefix", "8613812345678", "13812345678", true},
		{"dashes", "138-1234-5678", "13812345678", true},
		{"ideographic spaces", "138\u30001234\u30005678", "13812345678", true},
		{"+86 with dash", "+86-19912345678", "19912345678", true},
		{"second digit 2", "12812345678", "", false},
		{"second digit 0", "10812345678", "", false},
		{"short", "1381234567", "", false},
		{"long", "138123456789", "", false},
		{"86 before a short number", "86138123456", "", false},
		{"landline", "052386881234", "", false},
		{"letters", "1381234567a", "", false},
		{"full-width digits", "１３８１２３４５６７８", "", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Mobile(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("Mobile(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestPasswordClasses(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abcdefgh", 1},
		{"ABCDEFGH", 1},
		{"12345678", 1},
		{"!@#$%^&*", 1},
		{"abcd1234", 2},
		{"Abcd1234", 3},
		{"Abcd123!", 4},
		{"泰州abc1", 3},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := PasswordClasses(tt.in); got != tt.want {
				t.Errorf("PasswordClasses(%q) = %d, want %d", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzIDNumber(f *testing.F) {
	for _, s := range []string{
		"11010519491231002X", "11010519491231002x", "321202199001010017", "321283198506150027",
		"321202199001010018", "321202199002300016", "321202203001010016", "32120219900101001",
		"", "xxxxxxxxxxxxxxxxxx", "000000000000000000", "３21202199001010017",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := IDNumber(s, today)
		if !ok {
			if got != "" {
				t.Fatalf("IDNumber(%q) rejected but returned %q", s, got)
			}
			return
		}
		if len(got) != 18 {
			t.Fatalf("IDNumber(%q) = %q, %d chars", s, got, len(got))
		}
		if again, ok := IDNumber(got, today); !ok || again != got {
			t.Fatalf("IDNumber(%q) = %q, %v; want itself", got, again, ok)
		}
	})
}

func FuzzMobile(f *testing.F) {
	for _, s := range []string{"13812345678", "+86 138 1234 5678", "8613812345678", "12812345678", "1381234567", "", "+86", "86"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := Mobile(s)
		if !ok {
			return
		}
		if again, ok := Mobile(got); !ok || again != got || len(got) != 11 {
			t.Fatalf("Mobile(%q) = %q, not a fixed point (%q, %v)", s, got, again, ok)
		}
	})
}

// BenchmarkIDNumber measures one GB 11643 validation (checksum and date).
func BenchmarkIDNumber(b *testing.B) {
	today := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		if _, ok := IDNumber("11010519491231002x", today); !ok {
			b.Fatal("valid number refused")
		}
	}
}

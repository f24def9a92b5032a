package pii

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// mustSealer returns a Sealer with fixed, distinct test keys.
func mustSealer(tb testing.TB) *Sealer {
	tb.Helper()
	s, err := NewSealer(bytes.Repeat([]byte{0x11}, KeySize), bytes.Repeat([]byte{0x22}, KeySize))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestNewSealerKeys(t *testing.T) {
	k := func(n int, b byte) []byte { return bytes.Repeat([]byte{b}, n) }
	tests := []struct {
		name       string
		enc, index []byte
		wantErr    bool
	}{
		{"ok", k(32, 1), k(32, 2), false},
		{"short enc", k(31, 1), k(32, 2), true},
		{"long enc", k(33, 1), k(32, 2), true},
		{"short index", k(32, 1), k(16, 2), true},
		{"nil keys", nil, nil, true},
		{"same keys", k(32, 1), k(32, 1), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSealer(tt.enc, tt.index)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewSealer err = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	s := mustSealer(t)
	tests := []struct{ name, in, want string }{
		{"plain", "321202199001010017", "321202199001010017"},
		{"check X", "11010519491231002X", "11010519491231002X"},
		{"lower x and spaces normalized", "  11010519491231002x ", "11010519491231002X"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, idx, err := s.Seal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if idx != s.Index(tt.want) {
				t.Errorf("index %s, want Index(%q) %s", idx, tt.want, s.Index(tt.want))
			}
			if c[0] != version1 || len(c) != overhead+len(tt.want) {
				t.Errorf("ciphertext version %#x len %d, want %#x len %d", c[0], len(c), version1, overhead+len(tt.want))
			}
			got, err := s.Open(c, idx)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Open = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSealEmpty(t *testing.T) {
	s := mustSealer(t)
	for _, in := range []string{"", "   "} {
		if _, _, err := s.Seal(in); err == nil {
			t.Errorf("Seal(%q) succeeded, want error", in)
		}
	}
}

func TestSealRandomNonce(t *testing.T) {
	s := mustSealer(t)
	a, ia, _ := s.Seal("321202199001010017")
	b, ib, _ := s.Seal("321202199001010017")
	if bytes.Equal(a, b) {
		t.Error("two seals of the same id gave the same ciphertext")
	}
	if ia != ib {
		t.Errorf("indexes differ: %s, %s", ia, ib)
	}
}

func TestIndex(t *testing.T) {
	s := mustSealer(t)
	other, err := NewSealer(bytes.Repeat([]byte{0x11}, KeySize), bytes.Repeat([]byte{0x33}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	base := s.Index("11010519491231002X")
	if len(base) != 64 {
		t.Errorf("index %q has %d chars, want 64 hex", base, len(base))
	}
	if got := s.Index(" 11010519491231002x\t"); got != base {
		t.Errorf("normalized index differs: %s vs %s", got, base)
	}
	if got := s.Index("321202199001010017"); got == base {
		t.Error("different ids share an index")
	}
	if got := other.Index("11010519491231002X"); got == base {
		t.Error("index does not depend on the index key")
	}
}

func TestOpenTampered(t *testing.T) {
	s := mustSealer(t)
	c, idx, err := s.Seal("321202199001010017")
	if err != nil {
		t.Fatal(err)
	}
	for i := range c {
		for _, mask := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(c)
			bad[i] ^= mask
			if _, err := s.Open(bad, idx); !errors.Is(err, ErrIntegrity) {
				t.Fatalf("byte %d ^ %#x: err = %v, want ErrIntegrity", i, mask, err)
			}
		}
	}
	for n := 0; n < len(c); n++ {
		if _, err := s.Open(c[:n], idx); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("truncated to %d: err = %v, want ErrIntegrity", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(c), 0), idx); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("extended: err = %v, want ErrIntegrity", err)
	}
	v2 := bytes.Clone(c)
	v2[0] = 0x02
	if _, err := s.Open(v2, idx); !errors.Is(err, ErrIntegrity) {
		t.Fatalf("version 2: err = %v, want ErrIntegrity", err)
	}
}

func TestOpenSwappedIndex(t *testing.T) {
	s := mustSealer(t)
	ca, ia, _ := s.Seal("321202199001010017")
	cb, ib, _ := s.Seal("321283198506150027")
	if _, err := s.Open(ca, ib); !errors.Is(err, ErrIntegrity) {
		t.Errorf("a with b's index: err = %v, want ErrIntegrity", err)
	}
	if _, err := s.Open(cb, ia); !errors.Is(err, ErrIntegrity) {
		t.Errorf("b with a's index: err = %v, want ErrIntegrity", err)
	}
	if _, err := s.Open(ca, ""); !errors.Is(err, ErrIntegrity) {
		t.Errorf("empty index: err = %v, want ErrIntegrity", err)
	}
}

func TestOpenWrongKey(t *testing.T) {
	s := mustSealer(t)
	other, err := NewSealer(bytes.Repeat([]byte{0x44}, KeySize), bytes.Repeat([]byte{0x22}, KeySize))
	if err != nil {
		t.Fatal(err)
	}
	c, idx, _ := s.Seal("321202199001010017")
	if _, err := other.Open(c, idx); !errors.Is(err, ErrIntegrity) {
		t.Errorf("other key: err = %v, want ErrIntegrity", err)
	}
}

func TestMaskID(t *testing.T) {
	tests := []struct{ in, want string }{
		{"321202199001010017", "321202********0017"},
		{"11010519491231002X", "110105********002X"},
		{"", ""},
		{"1", "*"},
		{"12", "**"},
		{"123", "1*3"},
		{"G1234567", "G******7"},
		{"32120219900101001", "3***************1"},
		{"张三丰", "张*丰"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, MaskID(tt.in)); diff != "" {
				t.Errorf("MaskID(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMaskMobile(t *testing.T) {
	tests := []struct{ in, want string }{
		{"13812345678", "138****5678"},
		{"", ""},
		{"1", "*"},
		{"05238688123", "052****8123"},
		{"1381234567", "1********7"},
		{"+8613812345678", "+************8"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, MaskMobile(tt.in)); diff != "" {
				t.Errorf("MaskMobile(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func FuzzOpen(f *testing.F) {
	s := mustSealer(f)
	c, idx, err := s.Seal("321202199001010017")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(c, idx)
	f.Add(c, "")
	f.Add(c[:overhead], idx)
	f.Add([]byte{}, "")
	f.Add([]byte{version1}, idx)
	f.Add(bytes.Repeat([]byte{version1}, overhead+18), idx)
	f.Add([]byte(nil), "\xff\x00")
	f.Fuzz(func(t *testing.T, c []byte, idx string) {
		plain, err := s.Open(c, idx)
		if err != nil {
			if !errors.Is(err, ErrIntegrity) {
				t.Fatalf("Open error %v is not ErrIntegrity", err)
			}
			return
		}
		// Only an authentic ciphertext opens, and then its index is its own.
		if got := s.Index(plain); got != idx {
			t.Fatalf("opened %q under index %s, but its index is %s", plain, idx, got)
		}
	})
}

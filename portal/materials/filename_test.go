package materials_test

import (
	"mime"
	"strings"
	"testing"
	"unicode/utf8"

	"tzportal/portal/materials"
)

var long300 = strings.Repeat("长", 300)

func TestSafeFilename(t *testing.T) {
	tests := []struct{ in, want string }{
		{"租赁合同 2026.pdf", "租赁合同 2026.pdf"},
		{"身份证正面.JPG", "身份证正面.JPG"},
		{"../../etc/passwd", "passwd"},
		{`..\..\Windows\System32\cmd.exe`, "cmd.exe"},
		{"C:\\Users\\张三\\Desktop\\户口本.png", "户口本.png"},
		{`a"b;c.pdf`, "abc.pdf"},
		{"it's.jpg", "its.jpg"},
		{"evil\r\nSet-Cookie: x=1.pdf", "evilSet-Cookie: x=1.pdf"},
		{"tab\tand\x00nul\x7fdel\u0085nel.pdf", "tabandnuldelnel.pdf"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"}, // shown as "invoiceexe.pdf"
		{"zero\u200bwidth\ufeff.pdf", "zerowidth.pdf"},
		{"bad\xffutf8\xc3.pdf", "badutf8.pdf"},
		{"  spaced name .pdf \u3000", "spaced name .pdf"},
		{".bashrc", ".bashrc"},
		{"", "file"},
		{"   ", "file"},
		{".", "file"},
		{"..", "file"},
		{"...", "file"},
		{"dir/", "file"},
		{`dir\`, "file"},
		{"/", "file"},
		{"\"\";;\r\n", "file"},
		{long300 + ".pdf", strings.Repeat("长", 96) + ".pdf"},
		{strings.Repeat("a", 300), strings.Repeat("a", 100)},
		{"a." + strings.Repeat("x", 200), "a." + strings.Repeat("x", 98)}, // too long to be an extension
		{strings.Repeat("b", 95) + "     " + "c.jpeg", strings.Repeat("b", 95) + ".jpeg"},
		{strings.Repeat("长", 100), strings.Repeat("长", 100)},
	}
	for _, tt := range tests {
		got := materials.SafeFilename(tt.in)
		if got != tt.want {
			t.Errorf("SafeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if n := utf8.RuneCountInString(got); n > 100 {
			t.Errorf("SafeFilename(%q) has %d runes", tt.in, n)
		}
		if again := materials.SafeFilename(got); again != got {
			t.Errorf("SafeFilename is not idempotent on %q: %q", got, again)
		}
	}
}

func TestContentDisposition(t *testing.T) {
	tests := []struct{ disposition, name, want string }{
		{"inline", "租赁合同 2026.pdf",
			`inline; filename="____ 2026.pdf"; filename*=UTF-8''%E7%A7%9F%E8%B5%81%E5%90%88%E5%90%8C%202026.pdf`},
		{"attachment", `a"b;c.pdf`, `attachment; filename="abc.pdf"; filename*=UTF-8''abc.pdf`},
		{"attachment", "../../etc/passwd", `attachment; filename="passwd"; filename*=UTF-8''passwd`},
		{"attachment", "evil\r\nSet-Cookie: x=1.pdf",
			`attachment; filename="evilSet-Cookie: x=1.pdf"; filename*=UTF-8''evilSet-Cookie%3A%20x%3D1.pdf`},
		{"attachment", "100%.pdf", `attachment; filename="100_.pdf"; filename*=UTF-8''100%25.pdf`},
		{"attachment", "", `attachment; filename="file"; filename*=UTF-8''file`},
		{" INLINE ", "a.png", `inline; filename="a.png"; filename*=UTF-8''a.png`},
		{"inline; filename=evil.html", "a.png", `attachment; filename="a.png"; filename*=UTF-8''a.png`},
		{"", "a.png", `attachment; filename="a.png"; filename*=UTF-8''a.png`},
		{"attachment", "(1) [x] {y} @,=+!#$&^_`|~.jpg",
			"attachment; filename=\"(1) [x] {y} @,=+!#$&^_`|~.jpg\"; filename*=UTF-8''%281%29%20%5Bx%5D%20%7By%7D%20%40%2C%3D+!#$&^_`|~.jpg"},
	}
	for _, tt := range tests {
		got := materials.ContentDisposition(tt.disposition, tt.name)
		if got != tt.want {
			t.Errorf("ContentDisposition(%q, %q)\n got %s\nwant %s", tt.disposition, tt.name, got, tt.want)
		}
	}
}

// TestContentDispositionParses checks that a standard parser reads back
// exactly the safe name from every header, and that no name breaks out.
func TestContentDispositionParses(t *testing.T) {
	names := []string{
		"租赁合同 2026.pdf", `a"b;c.pdf`, "../../etc/passwd", "evil\r\nSet-Cookie: x=1.pdf",
		`back\slash`, "100%.pdf", "x\"; filename*=UTF-8''evil.html", long300 + ".pdf",
		"émigré naïve.png", "😀 smile.jpg", "\x00", "'quoted'.pdf",
	}
	for _, name := range names {
		for _, d := range []string{"inline", "attachment"} {
			h := materials.ContentDisposition(d, name)
			for i := 0; i < len(h); i++ {
				if h[i] < 0x20 || h[i] > 0x7E {
					t.Errorf("%q: byte %#x in %q", name, h[i], h)
				}
			}
			got, params, err := mime.ParseMediaType(h)
			if err != nil {
				t.Errorf("%q: %q does not parse: %v", name, h, err)
				continue
			}
			if got != d || len(params) != 1 || params["filename"] != materials.SafeFilename(name) {
				t.Errorf("%q: parsed %q %q, want %q", name, got, params, materials.SafeFilename(name))
			}
		}
	}
}

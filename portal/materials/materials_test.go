package materials_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"tzportal/portal/materials"
)

var limits = materials.Limits{MaxBytes: 10 << 20, MaxPixels: 40_000_000}

func TestCleanJPEGDropsExifAndTurnsUpright(t *testing.T) {
	src := withExif(encodeJPEG(t, quadrantImage(64, 32), 95), binary.BigEndian, 6)
	if !bytes.Contains(src, []byte(gpsSecret)) || !bytes.Contains(src, []byte("Exif\x00\x00")) {
		t.Fatal("test image lacks its EXIF")
	}
	if _, err := jpeg.Decode(bytes.NewReader(src)); err != nil {
		t.Fatalf("spliced JPEG does not decode: %v", err)
	}
	out, ct, err := materials.Clean(bytes.NewReader(src), limits)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "image/jpeg" {
		t.Errorf("content type %q", ct)
	}
	for _, s := range []string{"Exif", gpsSecret} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("cleaned JPEG still contains %q", s)
		}
	}
	if !bytes.HasPrefix(out, []byte{0xFF, 0xD8, 0xFF}) || bytes.Contains(out, []byte{0xFF, 0xE1}) {
		t.Errorf("cleaned JPEG has an APP1 segment or no SOI")
	}
	img, err := jpeg.Decode(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	if got := img.Bounds().Size(); got != image.Pt(32, 64) {
		t.Errorf("size %v, want 32x64 (width and height swapped)", got)
	}
	// Turned 90° clockwise, the stored top-left corner is shown top-right.
	if g := grayAt(img, 24, 16); g > 40 {
		t.Errorf("top-right is %d, want black", g)
	}
	if g := grayAt(img, 8, 16); g < 215 {
		t.Errorf("top-left is %d, want white", g)
	}
}

// TestCleanJPEGOrientations checks every EXIF orientation end to end by
// where the black top-left quadrant of the stored image ends up.
func TestCleanJPEGOrientations(t *testing.T) {
	const w, h = 64, 32
	plain := encodeJPEG(t, quadrantImage(w, h), 95)
	type corner struct{ right, bottom bool }
	tests := []struct {
		o       uint16
		swapped bool
		black   corner
	}{
		{1, false, corner{false, false}},
		{2, false, corner{true, false}},
		{3, false, corner{true, true}},
		{4, false, corner{false, true}},
		{5, true, corner{false, false}},
		{6, true, corner{true, false}},
		{7, true, corner{true, true}},
		{8, true, corner{false, true}},
		{0, false, corner{false, false}},  // invalid: as stored
		{9, false, corner{false, false}},  // invalid: as stored
		{99, false, corner{false, false}}, // invalid: as stored
	}
	for _, tt := range tests {
		for _, bo := range []binary.AppendByteOrder{binary.BigEndian, binary.LittleEndian} {
			out, _, err := materials.Clean(bytes.NewReader(withExif(plain, bo, tt.o)), limits)
			if err != nil {
				t.Fatalf("orientation %d: %v", tt.o, err)
			}
			img, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			want := image.Pt(w, h)
			if tt.swapped {
				want = image.Pt(h, w)
			}
			size := img.Bounds().Size()
			if size != want {
				t.Errorf("orientation %d (%v): size %v, want %v", tt.o, bo, size, want)
				continue
			}
			for _, c := range []corner{{false, false}, {true, false}, {false, true}, {true, true}} {
				x, y := size.X/4, size.Y/4
				if c.right {
					x += size.X / 2
				}
				if c.bottom {
					y += size.Y / 2
				}
				g := grayAt(img, x, y)
				if isBlack := g < 128; isBlack != (c == tt.black) {
					t.Errorf("orientation %d (%v): corner %+v is %d", tt.o, bo, c, g)
				}
			}
		}
	}
}

func TestCleanPNG(t *testing.T) {
	src := image.NewNRGBA(image.Rect(0, 0, 7, 5))
	for y := range 5 {
		for x := range 7 {
			src.SetNRGBA(x, y, color.NRGBA{uint8(30 * x), uint8(40 * y), uint8(x * y), uint8(255 - 20*x)})
		}
	}
	plain := encodePNG(t, src)
	// A tEXt chunk right after IHDR, as editors write them.
	const ihdrEnd = 8 + 12 + 13
	text := pngChunk("tEXt", []byte("Comment\x00home: "+gpsSecret))
	withText := append(append(append([]byte{}, plain[:ihdrEnd]...), text...), plain[ihdrEnd:]...)
	if _, err := png.Decode(bytes.NewReader(withText)); err != nil {
		t.Fatalf("spliced PNG does not decode: %v", err)
	}

	for name, in := range map[string][]byte{"plain": plain, "tEXt": withText} {
		out, ct, err := materials.Clean(bytes.NewReader(in), limits)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if ct != "image/png" {
			t.Errorf("%s: content type %q", name, ct)
		}
		if bytes.Contains(out, []byte("tEXt")) || bytes.Contains(out, []byte(gpsSecret)) {
			t.Errorf("%s: the text chunk survived", name)
		}
		img, err := png.Decode(bytes.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds() != src.Bounds() {
			t.Fatalf("%s: bounds %v", name, img.Bounds())
		}
		for y := range 5 {
			for x := range 7 {
				if got, want := color.NRGBAModel.Convert(img.At(x, y)), src.At(x, y); got != want {
					t.Errorf("%s: pixel (%d,%d) = %v, want %v", name, x, y, got, want)
				}
			}
		}
	}
}

func TestCleanPDFAsSent(t *testing.T) {
	pdf := []byte("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	out, ct, err := materials.Clean(bytes.NewReader(pdf), limits)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "application/pdf" || !bytes.Equal(out, pdf) {
		t.Errorf("got %q, %q; want the PDF as sent", ct, out)
	}
}

func TestCleanRefusesOtherTypes(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, quadrantImage(8, 8), nil); err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"empty":           "",
		"ELF":             "\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x3e\x00",
		"PE":              "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00This program cannot be run in DOS mode.",
		"GIF":             gifBuf.String(),
		"SVG":             `<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`,
		"SVG with prolog": `<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>`,
		"HTML":            "<!DOCTYPE html><html><script>alert(document.cookie)</script></html>",
		"WebP":            "RIFF\x24\x00\x00\x00WEBPVP8 ",
		"HEIC":            "\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic",
		"PDF after space": " %PDF-1.7\n",
		"PDF no dash":     "%PDF1.7\n",
		"half JPEG magic": "\xff\xd8",
		"half PNG magic":  "\x89PNG\r\n",
		"text":            "hello",
	}
	for name, in := range tests {
		data, ct, err := materials.Clean(strings.NewReader(in), limits)
		if !errors.Is(err, materials.ErrType) {
			t.Errorf("%s: err = %v, want ErrType", name, err)
		}
		if data != nil || ct != "" {
			t.Errorf("%s: returned %d bytes of %q with the error", name, len(data), ct)
		}
	}
}

// countingReader counts what is read from an endless source. It ends after
// 64 MiB only so that a Clean that ignores its limit fails instead of
// exhausting memory.
type countingReader struct {
	n int64
}

func (r *countingReader) Read(p []byte) (int, error) {
	if r.n >= 64<<20 {
		return 0, io.EOF
	}
	n := copy(p, "%PDF-1.7\n")
	for i := n; i < len(p); i++ {
		p[i] = 'x'
	}
	r.n += int64(len(p))
	return len(p), nil
}

func TestCleanTooLarge(t *testing.T) {
	l := materials.Limits{MaxBytes: 100_000, MaxPixels: 1000}
	r := &countingReader{}
	_, _, err := materials.Clean(r, l)
	if !errors.Is(err, materials.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if r.n > l.MaxBytes+1 {
		t.Errorf("read %d bytes, want at most %d", r.n, l.MaxBytes+1)
	}

	// Exactly MaxBytes is fine, MaxBytes+1 is not.
	pdf := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{'x'}, int(l.MaxBytes)-9)...)
	if out, _, err := materials.Clean(bytes.NewReader(pdf), l); err != nil || len(out) != int(l.MaxBytes) {
		t.Errorf("MaxBytes: %d bytes, %v", len(out), err)
	}
	if _, _, err := materials.Clean(bytes.NewReader(append(pdf, 'x')), l); !errors.Is(err, materials.ErrTooLarge) {
		t.Errorf("MaxBytes+1: err = %v, want ErrTooLarge", err)
	}
}

// TestCleanReencodedTooLarge checks that a re-encoded image is bounded too:
// noise saved at quality 5 grows when re-encoded at quality 90.
func TestCleanReencodedTooLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewGray(image.Rect(0, 0, 256, 256))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32())
	}
	src := encodeJPEG(t, img, 5)
	l := materials.Limits{MaxBytes: int64(len(src)), MaxPixels: 1 << 20}
	if _, _, err := materials.Clean(bytes.NewReader(src), l); !errors.Is(err, materials.ErrTooLarge) {
		t.Errorf("err = %v, want ErrTooLarge", err)
	}
}

func TestCleanBombs(t *testing.T) {
	pngBomb := append(pngHeader(100_000, 100_000), pngChunk("IDAT", []byte{0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01})...)
	pngBomb = append(pngBomb, pngChunk("IEND", nil)...)

	// A real JPEG whose SOF claims 65000x65000 pixels.
	jpegBomb := encodeJPEG(t, quadrantImage(16, 16), 90)
	sof := bytes.Index(jpegBomb, []byte{0xFF, 0xC0})
	if sof < 0 {
		t.Fatal("no SOF0")
	}
	binary.BigEndian.PutUint16(jpegBomb[sof+5:], 65000) // height
	binary.BigEndian.PutUint16(jpegBomb[sof+7:], 65000) // width

	for name, in := range map[string][]byte{"PNG": pngBomb, "JPEG": jpegBomb} {
		start := time.Now()
		_, _, err := materials.Clean(bytes.NewReader(in), limits)
		if !errors.Is(err, materials.ErrImage) || !strings.Contains(err.Error(), "pixels") {
			t.Errorf("%s: err = %v, want ErrImage about pixels", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v; the image was decoded", name, d)
		}
	}
}

func TestCleanBrokenImages(t *testing.T) {
	jpg := encodeJPEG(t, quadrantImage(64, 64), 90)
	pngData := encodePNG(t, quadrantImage(64, 64))
	tests := map[string][]byte{
		"truncated JPEG":     jpg[:len(jpg)/2],
		"JPEG magic only":    {0xFF, 0xD8, 0xFF},
		"JPEG magic, junk":   append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04}, "junk"...),
		"truncated PNG":      pngData[:len(pngData)/2],
		"PNG magic only":     []byte("\x89PNG\r\n\x1a\n"),
		"PNG of 0 pixels":    append(pngHeader(0, 10), pngChunk("IEND", nil)...),
		"PNG no image data":  append(pngHeader(10, 10), pngChunk("IEND", nil)...),
		"PNG with bad CRC":   append(pngHeader(10, 10)[:30], 0, 0, 0, 0),
		"executable as JPEG": append([]byte{0xFF, 0xD8, 0xFF}, "\x7fELF\x02\x01\x01"...),
	}
	for name, in := range tests {
		data, ct, err := materials.Clean(bytes.NewReader(in), limits)
		if !errors.Is(err, materials.ErrImage) {
			t.Errorf("%s: err = %v, want ErrImage", name, err)
		}
		if data != nil || ct != "" {
			t.Errorf("%s: returned data with the error", name)
		}
	}
}

// TestCleanTooManyScans repeats the scan of a baseline JPEG: each one makes
// the decoder walk the whole image again.
func TestCleanTooManyScans(t *testing.T) {
	jpg := encodeJPEG(t, quadrantImage(32, 32), 90)
	sos := bytes.Index(jpg, []byte{0xFF, 0xDA})
	if sos < 0 || !bytes.HasSuffix(jpg, []byte{0xFF, 0xD9}) {
		t.Fatal("unexpected JPEG layout")
	}
	scan := jpg[sos : len(jpg)-2]
	repeat := func(n int) []byte {
		out := append([]byte{}, jpg[:sos]...)
		for range n {
			out = append(out, scan...)
		}
		return append(out, 0xFF, 0xD9)
	}
	if materials.TooManyScans(jpg) || materials.TooManyScans(repeat(materials.MaxScans)) {
		t.Error("TooManyScans is true for an allowed JPEG")
	}
	if !materials.TooManyScans(repeat(materials.MaxScans + 1)) {
		t.Error("TooManyScans is false for a JPEG with too many scans")
	}
	if _, _, err := materials.Clean(bytes.NewReader(repeat(materials.MaxScans)), limits); err != nil {
		t.Errorf("%d scans: %v", materials.MaxScans, err)
	}
	_, _, err := materials.Clean(bytes.NewReader(repeat(materials.MaxScans+1)), limits)
	if !errors.Is(err, materials.ErrImage) || !strings.Contains(err.Error(), "scans") {
		t.Errorf("err = %v, want ErrImage about scans", err)
	}
}

func TestCleanBadLimits(t *testing.T) {
	for _, l := range []materials.Limits{{}, {MaxBytes: 10}, {MaxPixels: 10}, {MaxBytes: -1, MaxPixels: 1}} {
		if _, _, err := materials.Clean(strings.NewReader("%PDF-1.7"), l); err == nil {
			t.Errorf("%+v: no error", l)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestCleanReadError(t *testing.T) {
	_, _, err := materials.Clean(io.MultiReader(strings.NewReader("%PDF-"), failingReader{}), limits)
	if !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("err = %v, want the read error", err)
	}
}

func TestExtension(t *testing.T) {
	for ct, want := range map[string]string{
		"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png",
		"image/gif": "", "": "", "text/html": "",
	} {
		if got := materials.Extension(ct); got != want {
			t.Errorf("Extension(%q) = %q, want %q", ct, got, want)
		}
	}
	for _, ct := range strings.Split(materials.Accept, ",") {
		if materials.Extension(ct) == "" {
			t.Errorf("Accept lists %q, which has no extension", ct)
		}
	}
	if materials.Accept != "application/pdf,image/jpeg,image/png" {
		t.Errorf("Accept = %q", materials.Accept)
	}
}

func FuzzClean(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("%PDF-1.7\n%%EOF\n"))
	f.Add(encodeJPEG(f, quadrantImage(16, 8), 90))
	f.Add(withExif(encodeJPEG(f, quadrantImage(16, 8), 90), binary.LittleEndian, 8))
	f.Add(encodePNG(f, quadrantImage(16, 8)))
	f.Add(append(pngHeader(100_000, 100_000), pngChunk("IEND", nil)...))
	f.Add([]byte("GIF89a"))
	f.Add([]byte("<svg/>"))
	l := materials.Limits{MaxBytes: 64 << 10, MaxPixels: 1 << 18}
	f.Fuzz(func(t *testing.T, in []byte) {
		data, ct, err := materials.Clean(bytes.NewReader(in), l)
		if err != nil {
			if !errors.Is(err, materials.ErrTooLarge) && !errors.Is(err, materials.ErrType) && !errors.Is(err, materials.ErrImage) {
				t.Fatalf("unexpected error %v", err)
			}
			if data != nil || ct != "" {
				t.Fatal("data with an error")
			}
			return
		}
		if int64(len(data)) > l.MaxBytes || len(data) == 0 {
			t.Fatalf("%d bytes", len(data))
		}
		var decodeErr error
		switch ct {
		case "application/pdf":
			if !bytes.Equal(data, in) {
				t.Fatal("PDF changed")
			}
		case "image/jpeg":
			_, decodeErr = jpeg.Decode(bytes.NewReader(data))
		case "image/png":
			_, decodeErr = png.Decode(bytes.NewReader(data))
		default:
			t.Fatalf("content type %q", ct)
		}
		if decodeErr != nil {
			t.Fatalf("cleaned %s does not decode: %v", ct, decodeErr)
		}
	})
}

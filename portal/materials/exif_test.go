package materials_test

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"strings"
	"testing"

	"tzportal/portal/materials"
)

func TestExifOrientation(t *testing.T) {
	jpg := encodeJPEG(t, quadrantImage(16, 16), 90)
	be := withExif(jpg, binary.BigEndian, 6)
	le := withExif(jpg, binary.LittleEndian, 8)
	exifAt := 2 + 4 + 6 // SOI, APP1 marker and length, "Exif\0\0"
	tiffLen := len(exifTIFF(binary.BigEndian, 6))

	// An orientation of type LONG, which some writers use.
	long := bytes.Clone(le)
	binary.LittleEndian.PutUint16(long[exifAt+8+2+2:], 4)
	binary.LittleEndian.PutUint32(long[exifAt+8+2+8:], 3)

	patch := func(b []byte, at int, v ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[at:], v)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want int
	}{
		{"big-endian", be, 6},
		{"little-endian", le, 8},
		{"LONG", long, 3},
		{"no EXIF", jpg, 1},
		{"empty", nil, 1},
		{"SOI only", []byte{0xFF, 0xD8}, 1},
		{"not a JPEG", be[2:], 1},
		{"fill bytes before APP1", append([]byte{0xFF, 0xD8, 0xFF, 0xFF}, be[2:]...), 6},
		{"APP1 after SOS", append(append(bytes.Clone(jpg[:len(jpg)-2]), be[2:exifAt+tiffLen]...), 0xFF, 0xD9), 1},
		{"truncated segment", be[:exifAt+20], 1},
		{"segment length 0", patch(be, 4, 0, 0), 1},
		{"segment length past end", patch(be, 4, 0xFF, 0xFF), 1},
		{"XMP, not EXIF", patch(be, 6, 'h', 't', 't', 'p'), 1},
		{"bad byte order", patch(be, exifAt, 'M', 'I'), 1},
		{"IFD0 past end", patch(be, exifAt+4, 0xFF, 0xFF, 0xFF, 0xF0), 1},
		{"IFD0 count cut", patch(be, exifAt+4, 0, 0, 0, byte(tiffLen-1)), 1},
		{"IFD0 count at the end", patch(be, exifAt+4, 0, 0, 0, byte(tiffLen-2)), 1},
		{"entry count past end", patch(be, exifAt+8, 0xFF, 0xFF), 6}, // the entry itself is whole
		{"value 0", patch(be, exifAt+8+2+8, 0, 0), 1},
		{"value 9", patch(be, exifAt+8+2+8, 0, 9), 1},
		{"value 0xFFFF", patch(be, exifAt+8+2+8, 0xFF, 0xFF), 1},
		{"wrong type", patch(be, exifAt+8+2+2, 0, 7), 1},
		{"count 2", patch(be, exifAt+8+2+4, 0, 0, 0, 2), 1},
		{"no orientation tag", patch(be, exifAt+8+2, 0x01, 0x13), 1},
	}
	for _, tt := range tests {
		if got := materials.ExifOrientation(tt.in); got != tt.want {
			t.Errorf("%s: orientation %d, want %d", tt.name, got, tt.want)
		}
	}
}

// TestOrient turns a 3×2 image with a distinct gray level per pixel, labeled
//
//	a b c
//	d e f
//
// for each orientation and pixel type the JPEG decoder returns, and from a
// sub-image whose bounds do not start at the origin.
func TestOrient(t *testing.T) {
	want := map[int]string{
		1: "abc/def",
		2: "cba/fed",
		3: "fed/cba",
		4: "def/abc",
		5: "ad/be/cf",
		6: "da/eb/fc",
		7: "fc/eb/da",
		8: "cf/be/ad",
	}
	level := func(label byte) uint8 { return uint8(label-'a'+1) * 40 }
	labels := []string{"abc", "def"}
	builders := map[string]func() image.Image{
		"Gray": func() image.Image {
			m := image.NewGray(image.Rect(0, 0, 3, 2))
			for y, row := range labels {
				for x := range row {
					m.SetGray(x, y, color.Gray{level(row[x])})
				}
			}
			return m
		},
		"YCbCr": func() image.Image {
			m := image.NewYCbCr(image.Rect(0, 0, 3, 2), image.YCbCrSubsampleRatio444)
			for y, row := range labels {
				for x := range row {
					m.Y[m.YOffset(x, y)] = level(row[x])
					m.Cb[m.COffset(x, y)], m.Cr[m.COffset(x, y)] = 128, 128
				}
			}
			return m
		},
		"RGBA": func() image.Image {
			m := image.NewRGBA(image.Rect(0, 0, 3, 2))
			for y, row := range labels {
				for x := range row {
					v := level(row[x])
					m.SetRGBA(x, y, color.RGBA{v, v, v, 0xFF})
				}
			}
			return m
		},
		"CMYK": func() image.Image {
			m := image.NewCMYK(image.Rect(0, 0, 3, 2))
			for y, row := range labels {
				for x := range row {
					m.SetCMYK(x, y, color.CMYK{0, 0, 0, 0xFF - level(row[x])})
				}
			}
			return m
		},
		"NRGBA (generic)": func() image.Image {
			m := image.NewNRGBA(image.Rect(0, 0, 3, 2))
			for y, row := range labels {
				for x := range row {
					v := level(row[x])
					m.SetNRGBA(x, y, color.NRGBA{v, v, v, 0xFF})
				}
			}
			return m
		},
		"sub-image": func() image.Image {
			m := image.NewGray(image.Rect(-5, -5, 10, 10))
			for y, row := range labels {
				for x := range row {
					m.SetGray(x+2, y+3, color.Gray{level(row[x])})
				}
			}
			return m.SubImage(image.Rect(2, 3, 5, 5))
		},
	}
	for name, build := range builders {
		for o, w := range want {
			img := materials.Orient(build(), o)
			var rows []string
			b := img.Bounds()
			for y := b.Min.Y; y < b.Max.Y; y++ {
				var row strings.Builder
				for x := b.Min.X; x < b.Max.X; x++ {
					g := grayAt(img, x, y)
					if g%40 != 0 || g == 0 || g > 240 {
						t.Fatalf("%s %d: gray level %d at (%d,%d)", name, o, g, x, y)
					}
					row.WriteByte('a' + g/40 - 1)
				}
				rows = append(rows, row.String())
			}
			if got := strings.Join(rows, "/"); got != w {
				t.Errorf("%s, orientation %d: %s, want %s", name, o, got, w)
			}
		}
	}
}

func FuzzOrientation(f *testing.F) {
	jpg := encodeJPEG(f, quadrantImage(8, 8), 90)
	for o := range uint16(9) {
		f.Add(withExif(jpg, binary.BigEndian, o))
		f.Add(withExif(jpg, binary.LittleEndian, o))
	}
	f.Add(exifTIFF(binary.BigEndian, 6))
	f.Add(exifTIFF(binary.LittleEndian, 3)[:20])
	f.Add([]byte("MM\x00*\xff\xff\xff\xff"))
	f.Add([]byte{0xFF, 0xD8, 0xFF, 0xFF, 0xFF, 0xDA, 0x00, 0x02, 0xFF, 0x00, 0xFF, 0xD0, 0xFF, 0xDA, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(in []byte) {
			if o := materials.ExifOrientation(in); o < 1 || o > 8 {
				t.Fatalf("orientation %d", o)
			}
			materials.TooManyScans(in)
		}
		check(b)
		// The same bytes as the TIFF of an EXIF segment, so that the
		// fuzzer reaches the TIFF parser without having to find the framing.
		if len(b) <= 0xFFFF-2-6 {
			in := append([]byte{0xFF, 0xD8}, app1(append([]byte("Exif\x00\x00"), b...))...)
			check(in)
			// Orient must accept any orientation the parser returns, and
			// only those turn the image.
			o := materials.ExifOrientation(in)
			want := image.Rect(0, 0, 3, 2)
			if o >= 5 {
				want = image.Rect(0, 0, 2, 3)
			}
			if got := materials.Orient(image.NewGray(image.Rect(0, 0, 3, 2)), o).Bounds(); got != want {
				t.Fatalf("orientation %d gave bounds %v", o, got)
			}
		}
	})
}

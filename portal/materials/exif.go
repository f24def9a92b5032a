package materials

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"iter"
)

// JPEG markers the parsers look for.
const (
	markerEOI  = 0xD9
	markerSOS  = 0xDA
	markerAPP1 = 0xE1
	markerRST0 = 0xD0
	markerRST7 = 0xD7
)

// tagOrientation is the EXIF (TIFF) tag of the orientation.
const tagOrientation = 0x0112

// segments yields the marker and payload of each segment of a JPEG, up to
// the end of the image or the first malformed or truncated segment. It reads
// markers as image/jpeg does (skipping fill bytes, entropy-coded data and
// stray bytes between segments), so that it sees the scans that decoder
// would. Every index is bounds-checked: the input is untrusted.
func segments(b []byte) iter.Seq2[byte, []byte] {
	return func(yield func(byte, []byte) bool) {
		if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
			return
		}
		i := 2
		for i+2 <= len(b) {
			// Find the next 0xFF: whatever precedes it is entropy-coded
			// data after a scan, or junk the decoder tolerates.
			t0, t1 := b[i], b[i+1]
			i += 2
			for t0 != 0xFF {
				if i >= len(b) {
					return
				}
				t0, t1 = t1, b[i]
				i++
			}
			m := t1
			if m == 0x00 { // a stuffed 0xFF inside entropy-coded data
				continue
			}
			for m == 0xFF { // fill bytes before a marker
				if i >= len(b) {
					return
				}
				m = b[i]
				i++
			}
			if m == markerEOI {
				return
			}
			if markerRST0 <= m && m <= markerRST7 { // no length
				continue
			}
			if i+2 > len(b) {
				return
			}
			n := int(b[i])<<8 | int(b[i+1]) // counts its own two bytes
			if n < 2 || n > len(b)-i {
				return
			}
			if !yield(m, b[i+2:i+n]) {
				return
			}
			i += n
		}
	}
}

// exifOrientation returns the EXIF orientation (1–8) of a JPEG, or 1 (as
// stored) when it has none or its EXIF is malformed.
func exifOrientation(b []byte) int {
	for m, p := range segments(b) {
		if m == markerSOS { // EXIF comes before the image data
			break
		}
		if m == markerAPP1 && bytes.HasPrefix(p, []byte("Exif\x00\x00")) {
			return tiffOrientation(p[6:])
		}
	}
	return 1
}

// tiffOrientation returns the orientation tag of IFD0 of the TIFF structure
// in an EXIF segment, or 1.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	// Compare as uint64 so that no offset can overflow an int.
	off := uint64(bo.Uint32(t[4:8]))
	if off+2 > uint64(len(t)) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	entries := t[off+2:]
	for i := 0; i < count && 12*i+12 <= len(entries); i++ {
		e := entries[12*i : 12*i+12]
		if bo.Uint16(e[0:2]) != tagOrientation {
			continue
		}
		var v uint32
		switch typ, n := bo.Uint16(e[2:4]), bo.Uint32(e[4:8]); {
		case typ == 3 && n == 1: // SHORT, stored in the entry
			v = uint32(bo.Uint16(e[8:10]))
		case typ == 4 && n == 1: // LONG, which some writers use
			v = bo.Uint32(e[8:12])
		}
		if v < 1 || v > 8 {
			return 1
		}
		return int(v)
	}
	return 1
}

// tooManyScans reports whether a JPEG has more than maxScans scans.
func tooManyScans(b []byte) bool {
	n := 0
	for m := range segments(b) {
		if m == markerSOS {
			if n++; n > maxScans {
				return true
			}
		}
	}
	return false
}

// srcPoint returns the pixel of a stored w×h image that is shown at (x, y)
// once EXIF orientation o is applied (TIFF 6.0; 5–8 swap width and height).
func srcPoint(o, x, y, w, h int) (int, int) {
	switch o {
	case 2: // mirrored left-right
		return w - 1 - x, y
	case 3: // rotated 180°
		return w - 1 - x, h - 1 - y
	case 4: // mirrored top-bottom
		return x, h - 1 - y
	case 5: // transposed
		return y, x
	case 6: // shown rotated 90° clockwise
		return y, h - 1 - x
	case 7: // transversed
		return w - 1 - y, h - 1 - x
	case 8: // shown rotated 90° counter-clockwise
		return w - 1 - y, x
	}
	return x, y
}

// orient returns img as it is shown with EXIF orientation o, so that the
// stored image looks the way the phone showed it once EXIF is gone. The
// bounds of a turned image start at (0, 0); orientation 1 (or none) returns
// img itself.
func orient(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	dr := image.Rect(0, 0, b.Dx(), b.Dy())
	if o >= 5 {
		dr = image.Rect(0, 0, b.Dy(), b.Dx())
	}
	m := newMapping(o, b)
	// The decoder returns one of these types. Working on their pixel bytes
	// instead of through color.Color, stepping through the source instead
	// of computing each point, turns a 12 MP photo in a fraction of a
	// second rather than seconds.
	switch s := img.(type) {
	case *image.YCbCr:
		d := image.NewRGBA(dr)
		for y := range dr.Dy() {
			row := d.Pix[y*d.Stride : y*d.Stride+4*dr.Dx()]
			sx, sy := m.at(0, y)
			for x := 0; x < len(row); x += 4 {
				yi, ci := s.YOffset(sx, sy), s.COffset(sx, sy)
				row[x], row[x+1], row[x+2] = color.YCbCrToRGB(s.Y[yi], s.Cb[ci], s.Cr[ci])
				row[x+3] = 0xFF
				sx, sy = sx+m.dxx, sy+m.dyx
			}
		}
		return d
	case *image.Gray:
		d := image.NewGray(dr)
		copyPixels(d.Pix, d.Stride, dr, s.Pix, s.Stride, s.Rect.Min, 1, m)
		return d
	case *image.RGBA:
		d := image.NewRGBA(dr)
		copyPixels(d.Pix, d.Stride, dr, s.Pix, s.Stride, s.Rect.Min, 4, m)
		return d
	case *image.CMYK:
		d := image.NewCMYK(dr)
		copyPixels(d.Pix, d.Stride, dr, s.Pix, s.Stride, s.Rect.Min, 4, m)
		return d
	}
	d := image.NewRGBA64(dr)
	for y := range dr.Dy() {
		for x := range dr.Dx() {
			d.Set(x, y, img.At(m.at(x, y)))
		}
	}
	return d
}

// mapping is srcPoint as an affine map from a displayed point to the
// source point, in the source's coordinates, so that loops can step through
// the source instead of evaluating srcPoint for each pixel.
type mapping struct {
	x0, dxx, dxy int // source x = x0 + x*dxx + y*dxy
	y0, dyx, dyy int // source y = y0 + x*dyx + y*dyy
}

// newMapping returns the mapping of orientation o for a source with bounds
// b; every orientation is affine, so three points of srcPoint define it.
func newMapping(o int, b image.Rectangle) mapping {
	w, h := b.Dx(), b.Dy()
	x0, y0 := srcPoint(o, 0, 0, w, h)
	x1, y1 := srcPoint(o, 1, 0, w, h)
	x2, y2 := srcPoint(o, 0, 1, w, h)
	return mapping{
		x0: b.Min.X + x0, dxx: x1 - x0, dxy: x2 - x0,
		y0: b.Min.Y + y0, dyx: y1 - y0, dyy: y2 - y0,
	}
}

func (m mapping) at(x, y int) (int, int) {
	return m.x0 + x*m.dxx + y*m.dxy, m.y0 + x*m.dyx + y*m.dyy
}

// copyPixels fills dst (bounds dr at the origin) with the pixels of src
// (bpp bytes each, its bounds starting at origin) that m maps each point to.
func copyPixels(dst []byte, dstStride int, dr image.Rectangle, src []byte, srcStride int, origin image.Point, bpp int, m mapping) {
	for y := range dr.Dy() {
		row := dst[y*dstStride : y*dstStride+bpp*dr.Dx()]
		sx, sy := m.at(0, y)
		for x := 0; x < len(row); x += bpp {
			i := (sy-origin.Y)*srcStride + (sx-origin.X)*bpp
			if bpp == 1 {
				row[x] = src[i]
			} else {
				copy(row[x:x+4], src[i:i+4])
			}
			sx, sy = sx+m.dxx, sy+m.dyx
		}
	}
}

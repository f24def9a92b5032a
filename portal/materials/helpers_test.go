package materials_test

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"
)

// gpsSecret is a GPS map datum no cleaned file may still contain.
const gpsSecret = "TZPORTAL-GPS-SECRET"

// quadrantImage returns a w×h image, black in its top-left quadrant and
// white elsewhere, so that where the black corner ends up shows how an
// image was turned.
func quadrantImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			c := color.RGBA{0xFF, 0xFF, 0xFF, 0xFF}
			if x < w/2 && y < h/2 {
				c = color.RGBA{0, 0, 0, 0xFF}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// encodeJPEG encodes img as a baseline JPEG.
func encodeJPEG(tb testing.TB, img image.Image, quality int) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: quality}); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// encodePNG encodes img as a PNG.
func encodePNG(tb testing.TB, img image.Image) []byte {
	tb.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// exifTIFF builds, by hand, the TIFF structure of an EXIF segment as a
// phone writes it: IFD0 with an Orientation (type SHORT) and a pointer to a
// GPS IFD holding a position and a map datum.
func exifTIFF(bo binary.AppendByteOrder, orientation uint16) []byte {
	const (
		ifd0    = 8
		ifd0Len = 2 + 2*12 + 4
		gps     = ifd0 + ifd0Len
		gpsLen  = 2 + 5*12 + 4
		data    = gps + gpsLen
	)
	var t []byte
	if bo == binary.AppendByteOrder(binary.LittleEndian) {
		t = append(t, "II*\x00"...)
	} else {
		t = append(t, "MM\x00*"...)
	}
	t = bo.AppendUint32(t, ifd0)
	entry := func(tag, typ uint16, count uint32, value []byte) {
		t = bo.AppendUint16(t, tag)
		t = bo.AppendUint16(t, typ)
		t = bo.AppendUint32(t, count)
		t = append(t, append(value, make([]byte, 4-len(value))...)...)
	}
	u16 := func(v uint16) []byte { return bo.AppendUint16(nil, v) }
	u32 := func(v uint32) []byte { return bo.AppendUint32(nil, v) }
	// IFD0
	t = bo.AppendUint16(t, 2)
	entry(0x0112, 3, 1, u16(orientation)) // Orientation
	entry(0x8825, 4, 1, u32(gps))         // GPSInfo
	t = bo.AppendUint32(t, 0)
	// GPS IFD
	datum := gpsSecret + "\x00"
	t = bo.AppendUint16(t, 5)
	entry(0x0001, 2, 2, []byte("N\x00"))               // GPSLatitudeRef
	entry(0x0002, 5, 3, u32(data))                     // GPSLatitude
	entry(0x0003, 2, 2, []byte("E\x00"))               // GPSLongitudeRef
	entry(0x0004, 5, 3, u32(data+24))                  // GPSLongitude
	entry(0x0012, 2, uint32(len(datum)), u32(data+48)) // GPSMapDatum
	t = bo.AppendUint32(t, 0)
	// Rationals: 32°28'N 119°55'E, then the datum.
	for _, v := range []uint32{32, 1, 28, 1, 0, 1, 119, 1, 55, 1, 0, 1} {
		t = bo.AppendUint32(t, v)
	}
	return append(t, datum...)
}

// app1 wraps a payload in an APP1 segment.
func app1(payload []byte) []byte {
	n := len(payload) + 2
	return append([]byte{0xFF, 0xE1, byte(n >> 8), byte(n)}, payload...)
}

// withExif returns a JPEG with an EXIF segment spliced in after its SOI.
func withExif(jpg []byte, bo binary.AppendByteOrder, orientation uint16) []byte {
	seg := app1(append([]byte("Exif\x00\x00"), exifTIFF(bo, orientation)...))
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// pngChunk returns a PNG chunk with its CRC.
func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

// pngHeader returns a PNG signature and an IHDR chunk for an RGBA image of
// w×h pixels.
func pngHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0) // 8-bit RGBA, deflate, no interlace
	return append([]byte("\x89PNG\r\n\x1a\n"), pngChunk("IHDR", ihdr)...)
}

// grayAt returns the gray level of a pixel.
func grayAt(img image.Image, x, y int) uint8 {
	return color.GrayModel.Convert(img.At(x, y)).(color.Gray).Y
}

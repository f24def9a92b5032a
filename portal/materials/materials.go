// Package materials accepts the files applicants upload (photos of an ID card,
// a lease as PDF…) and keeps them on disk.
//
// A file is accepted by its content, never by its name or the client's
// Content-Type header, which any client can set to anything: only PDF, JPEG
// and PNG are allowed. Images are decoded and re-encoded, which drops their
// metadata (EXIF with the GPS position where a phone took the photo, text
// chunks, embedded thumbnails) and anything appended to them, so what the
// portal stores and serves is a plain image the Go decoders produced. PDFs
// are stored as sent and must be served as downloads or with a sandboxing
// Content-Security-Policy, since they can carry scripts.
package materials

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
	"math"
	"sync"
)

// Content types Clean returns.
const (
	ContentTypePDF  = "application/pdf"
	ContentTypeJPEG = "image/jpeg"
	ContentTypePNG  = "image/png"
)

// Accept lists the accepted types, for messages and the HTML accept
// attribute.
const Accept = ContentTypePDF + "," + ContentTypeJPEG + "," + ContentTypePNG

// jpegQuality is the quality images are re-encoded with: high enough that the
// text of a photographed document stays legible.
const jpegQuality = 90

// maxScans bounds the scans of a JPEG. A progressive JPEG can repeat tiny
// scans that each make the decoder walk the whole image, so a 10 MiB file
// could keep a CPU busy for minutes; cameras and encoders write at most a few
// dozen.
const maxScans = 100

// Magic bytes that identify the accepted formats.
const (
	pdfMagic  = "%PDF-"
	jpegMagic = "\xFF\xD8\xFF"
	pngMagic  = "\x89PNG\r\n\x1a\n"
)

// Errors Clean returns, wrapped with details: test them with errors.Is.
var (
	// ErrTooLarge means the file (or the re-encoded image) is larger than
	// Limits.MaxBytes.
	ErrTooLarge = errors.New("materials: file too large")
	// ErrType means the content is not a PDF, JPEG or PNG, whatever its name.
	ErrType = errors.New("materials: file type not accepted (PDF, JPEG or PNG only)")
	// ErrImage means the content starts like a JPEG or PNG but does not
	// decode, or has too many pixels (a decompression bomb) or scans.
	ErrImage = errors.New("materials: invalid image")
)

// Limits bound an upload.
type Limits struct {
	MaxBytes  int64 // whole file, e.g. 10 MiB
	MaxPixels int64 // width*height of an image, e.g. 40_000_000
}

// Clean reads at most MaxBytes+1 bytes from r (never buffering more: an
// oversized upload fails as soon as it passes the limit), checks the content
// and returns what to store and its content type: ContentTypePDF,
// ContentTypeJPEG or ContentTypePNG. A PDF is returned as read; a JPEG or PNG
// is decoded, turned upright according to its EXIF orientation and
// re-encoded without metadata. The errors are ErrTooLarge, ErrType and
// ErrImage wrapped with details, or a read error of r.
func Clean(r io.Reader, l Limits) (data []byte, contentType string, err error) {
	if l.MaxBytes <= 0 || l.MaxPixels <= 0 {
		return nil, "", fmt.Errorf("materials.Clean: limits must be positive, got %d bytes and %d pixels", l.MaxBytes, l.MaxPixels)
	}
	in, err := readAtMost(r, l.MaxBytes)
	if err != nil {
		return nil, "", fmt.Errorf("materials.Clean: read: %w", err)
	}
	if int64(len(in)) > l.MaxBytes {
		return nil, "", fmt.Errorf("materials.Clean: %w: more than %d bytes", ErrTooLarge, l.MaxBytes)
	}
	switch {
	case bytes.HasPrefix(in, []byte(pdfMagic)):
		return in, ContentTypePDF, nil
	case bytes.HasPrefix(in, []byte(jpegMagic)):
		out, err := cleanJPEG(in, l)
		if err != nil {
			return nil, "", fmt.Errorf("materials.Clean: %w", err)
		}
		return out, ContentTypeJPEG, nil
	case bytes.HasPrefix(in, []byte(pngMagic)):
		out, err := cleanPNG(in, l)
		if err != nil {
			return nil, "", fmt.Errorf("materials.Clean: %w", err)
		}
		return out, ContentTypePNG, nil
	}
	return nil, "", fmt.Errorf("materials.Clean: %w (%d bytes)", ErrType, len(in))
}

// Extension returns ".pdf", ".jpg" or ".png" for a content type Clean
// returns, and "" for any other.
func Extension(contentType string) string {
	switch contentType {
	case ContentTypePDF:
		return ".pdf"
	case ContentTypeJPEG:
		return ".jpg"
	case ContentTypePNG:
		return ".png"
	}
	return ""
}

// readAtMost reads r to its end or to max+1 bytes, whichever comes first.
// It grows its buffer by doubling but never beyond max+1 bytes, so an
// endless or huge upload costs no more memory than the limit.
func readAtMost(r io.Reader, max int64) ([]byte, error) {
	limit := max
	if limit < math.MaxInt64 {
		limit++
	}
	buf := make([]byte, 0, min(limit, 64<<10))
	for int64(len(buf)) < limit {
		if len(buf) == cap(buf) {
			grown := make([]byte, len(buf), min(limit, 2*int64(cap(buf))))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// cleanJPEG checks and re-encodes a JPEG.
func cleanJPEG(in []byte, l Limits) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(in))
	if err != nil {
		return nil, fmt.Errorf("%w: JPEG header does not decode: %w", ErrImage, err)
	}
	if err := checkPixels("JPEG", cfg, l.MaxPixels); err != nil {
		return nil, err
	}
	if tooManyScans(in) {
		return nil, fmt.Errorf("%w: JPEG has more than %d scans", ErrImage, maxScans)
	}
	// The orientation is read before decoding: the decoder skips EXIF, and
	// re-encoding drops it, so it must be applied to the pixels.
	o := exifOrientation(in)
	img, err := jpeg.Decode(bytes.NewReader(in))
	if err != nil {
		return nil, fmt.Errorf("%w: JPEG does not decode: %w", ErrImage, err)
	}
	img = orient(img, o)
	w := &limitWriter{max: l.MaxBytes}
	if err := jpeg.Encode(w, img, &jpeg.Options{Quality: jpegQuality}); err != nil {
		return nil, encodeError("JPEG", l.MaxBytes, err)
	}
	return w.buf, nil
}

// cleanPNG checks and re-encodes a PNG.
func cleanPNG(in []byte, l Limits) ([]byte, error) {
	cfg, err := png.DecodeConfig(bytes.NewReader(in))
	if err != nil {
		return nil, fmt.Errorf("%w: PNG header does not decode: %w", ErrImage, err)
	}
	if err := checkPixels("PNG", cfg, l.MaxPixels); err != nil {
		return nil, err
	}
	img, err := png.Decode(bytes.NewReader(in))
	if err != nil {
		return nil, fmt.Errorf("%w: PNG does not decode: %w", ErrImage, err)
	}
	w := &limitWriter{max: l.MaxBytes}
	// The encoder's buffers (its zlib writer is most of its cost on a small
	// image) are reused across uploads.
	enc := png.Encoder{BufferPool: pngBuffers}
	if err := enc.Encode(w, img); err != nil {
		return nil, encodeError("PNG", l.MaxBytes, err)
	}
	return w.buf, nil
}

// checkPixels refuses an image too large to decode before the decoder
// allocates its pixels: a few bytes of header can claim gigabytes.
func checkPixels(format string, cfg image.Config, maxPixels int64) error {
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return fmt.Errorf("%w: %s of %dx%d pixels", ErrImage, format, cfg.Width, cfg.Height)
	}
	if n := int64(cfg.Width) * int64(cfg.Height); n > maxPixels {
		return fmt.Errorf("%w: %s of %dx%d is %d pixels, more than the %d allowed", ErrImage, format, cfg.Width, cfg.Height, n, maxPixels)
	}
	return nil
}

// encodeError wraps an error of re-encoding.
func encodeError(format string, maxBytes int64, err error) error {
	if errors.Is(err, errOutputFull) {
		return fmt.Errorf("%w: re-encoded %s is more than %d bytes", ErrTooLarge, format, maxBytes)
	}
	return fmt.Errorf("re-encode %s: %w", format, err)
}

// errOutputFull stops an encoder whose output passes the limit.
var errOutputFull = errors.New("output limit reached")

// limitWriter collects at most max bytes. A re-encoded image can be larger
// than its upload (a heavily compressed JPEG at quality 90), and failing the
// write stops the encoder instead of buffering all of it.
type limitWriter struct {
	buf []byte
	max int64
}

func (w *limitWriter) Write(p []byte) (int, error) {
	if int64(len(w.buf))+int64(len(p)) > w.max {
		return 0, errOutputFull
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// pngBuffers lends PNG encoders their buffers: a pool, safe for concurrent
// use, holding nothing of any one upload between uses.
var pngBuffers = &pngBufferPool{}

type pngBufferPool struct{ p sync.Pool }

func (b *pngBufferPool) Get() *png.EncoderBuffer {
	if e, ok := b.p.Get().(*png.EncoderBuffer); ok {
		return e
	}
	return nil
}

func (b *pngBufferPool) Put(e *png.EncoderBuffer) { b.p.Put(e) }

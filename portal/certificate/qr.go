package certificate

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// QRSVG renders text as a QR code in SVG: medium error correction, a quiet
// zone of 4 modules (part of the library's bitmap), one <path> of unit squares
// on a white square, a viewBox in modules, shape-rendering crispEdges, and
// width and height of sizePx CSS pixels. An SVG inlines in the printable
// certificate page with no image request, and scales without blur for print.
//
// The result is template.HTML, which html/template inserts unescaped. That is
// safe because this function writes every byte of it: text only chooses which
// modules are dark and never appears in the markup, and the rest is integers.
func QRSVG(text string, sizePx int) (template.HTML, error) {
	if sizePx <= 0 {
		return "", fmt.Errorf("certificate: qr svg: size %d px, want more than 0", sizePx)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("certificate: qr svg: %w", err)
	}
	bitmap := q.Bitmap()
	n := strconv.Itoa(len(bitmap))
	px := strconv.Itoa(sizePx)

	var b strings.Builder
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" width="` + px + `" height="` + px +
		`" viewBox="0 0 ` + n + ` ` + n + `" shape-rendering="crispEdges">`)
	// An explicit white background keeps the code scannable on a tinted page
	// or paper; the quiet zone must be light.
	b.WriteString(`<rect width="` + n + `" height="` + n + `" fill="#fff"/>`)
	b.WriteString(`<path fill="#000" d="`)
	for y, row := range bitmap {
		for x, dark := range row {
			if dark {
				// One closed unit square per dark module: simple to check and
				// still small (a few kB for a verify URL).
				b.WriteString("M" + strconv.Itoa(x) + " " + strconv.Itoa(y) + "h1v1h-1z")
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return template.HTML(b.String()), nil
}

// QRPNG renders text as a QR code PNG of sizePx by sizePx pixels (medium error
// correction, quiet zone of 4 modules; the library enlarges it to at least one
// pixel per module), for a download. It is the library's own PNG; QRSVG is what
// the printable page uses.
func QRPNG(text string, sizePx int) ([]byte, error) {
	// The library reads a negative size as a module multiplier; the caller
	// means pixels, so anything but a positive size is a mistake.
	if sizePx <= 0 {
		return nil, fmt.Errorf("certificate: qr png: size %d px, want more than 0", sizePx)
	}
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return nil, fmt.Errorf("certificate: qr png: %w", err)
	}
	png, err := q.PNG(sizePx)
	if err != nil {
		return nil, fmt.Errorf("certificate: qr png: %w", err)
	}
	return png, nil
}

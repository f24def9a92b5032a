package certificate_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"

	qrcode "github.com/skip2/go-qrcode"

	"tzportal/portal/certificate"
)

// svgAttrs decodes svg as XML, failing on malformed markup, and returns the
// attributes of the <svg> element and of its single <path>.
func svgAttrs(t *testing.T, svg string) (root, path map[string]string) {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(svg))
	dec.Strict = true
	attrs := func(se xml.StartElement) map[string]string {
		m := map[string]string{}
		for _, a := range se.Attr {
			m[a.Name.Local] = a.Value
		}
		return m
	}
	paths := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "svg":
			if se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Errorf("svg namespace %q", se.Name.Space)
			}
			root = attrs(se)
		case "path":
			paths++
			path = attrs(se)
		}
	}
	if root == nil || paths != 1 {
		t.Fatalf("SVG has svg=%v and %d paths, want one of each", root != nil, paths)
	}
	return root, path
}

func TestQRSVG(t *testing.T) {
	const text = "https://zwfw.taizhou.example.gov.cn/verify/v1.0123456789abcdef.eyJrIjoicmVzaWRlbmNlLXBlcm1pdCJ9.c2ln"
	got, err := certificate.QRSVG(text, 160)
	if err != nil {
		t.Fatal(err)
	}
	root, path := svgAttrs(t, string(got))

	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		t.Fatal(err)
	}
	bitmap := q.Bitmap()
	n := len(bitmap)
	if want := fmt.Sprintf("0 0 %d %d", n, n); root["viewBox"] != want {
		t.Errorf("viewBox = %q, want %q (the library's bitmap size)", root["viewBox"], want)
	}
	if root["width"] != "160" || root["height"] != "160" {
		t.Errorf("width, height = %q, %q; want 160", root["width"], root["height"])
	}
	if root["shape-rendering"] != "crispEdges" {
		t.Errorf("shape-rendering = %q", root["shape-rendering"])
	}
	// The quiet zone of 4 modules is light on every side.
	for i := 0; i < n; i++ {
		for j := 0; j < 4; j++ {
			if bitmap[i][j] || bitmap[i][n-1-j] || bitmap[j][i] || bitmap[n-1-j][i] {
				t.Fatalf("bitmap has a dark module in the quiet zone near (%d, %d)", i, j)
			}
		}
	}

	// The path is exactly one unit square per dark module.
	dark := map[[2]int]bool{}
	for y, row := range bitmap {
		for x, v := range row {
			if v {
				dark[[2]int{x, y}] = true
			}
		}
	}
	squares := strings.Split(path["d"], "z")
	if squares[len(squares)-1] != "" {
		t.Fatalf("path does not end with a closed square: %q", squares[len(squares)-1])
	}
	squares = squares[:len(squares)-1]
	if len(squares) != len(dark) {
		t.Errorf("path has %d squares, bitmap %d dark modules", len(squares), len(dark))
	}
	seen := map[[2]int]bool{}
	for _, sq := range squares {
		var x, y int
		if _, err := fmt.Sscanf(sq, "M%d %dh1v1h-1", &x, &y); err != nil || sq != fmt.Sprintf("M%d %dh1v1h-1", x, y) {
			t.Fatalf("path segment %q is not a unit square", sq)
		}
		if !dark[[2]int{x, y}] || seen[[2]int{x, y}] {
			t.Fatalf("square at (%d, %d) is not a dark module or is drawn twice", x, y)
		}
		seen[[2]int{x, y}] = true
	}
}

func TestQRSVGErrors(t *testing.T) {
	if _, err := certificate.QRSVG("x", 0); err == nil {
		t.Error("QRSVG with size 0 succeeded")
	}
	if _, err := certificate.QRSVG(strings.Repeat("x", 5000), 100); err == nil {
		t.Error("QRSVG with text too long for a QR code succeeded")
	}
}

func TestQRPNG(t *testing.T) {
	got, err := certificate.QRPNG("https://zwfw.taizhou.example.gov.cn/verify/x", 256)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("QRPNG does not start with the PNG signature: % x", got[:min(8, len(got))])
	}
	if _, err := certificate.QRPNG("x", -3); err == nil {
		t.Error("QRPNG with a negative size succeeded")
	}
}

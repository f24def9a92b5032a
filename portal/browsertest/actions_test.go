package browsertest

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// setSelect chooses an option of a <select> by value, as picking it does.
func setSelect(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), value)
}

// setDate fills a date input (the browser's date picker takes the value as
// a phone's picker would give it).
func setDate(css, value string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), value)
}

// clickAll clicks each element (check boxes).
func clickAll(css ...string) []chromedp.Action[chromedp.Void] {
	var out []chromedp.Action[chromedp.Void]
	for _, c := range css {
		out = append(out, chromedp.Click(chromedp.CSS(c)))
	}
	return out
}

// photo returns the path of a JPEG like a phone's photo of a document.
func photo(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "photo.jpg")
	img := image.NewRGBA(image.Rect(0, 0, 320, 200))
	for x := 0; x < 320; x++ {
		for y := 0; y < 200; y++ {
			img.Set(x, y, color.RGBA{R: uint8(200 + x%40), G: uint8(190 + y%50), B: 170, A: 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

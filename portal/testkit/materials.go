package testkit

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"net/http"
	"testing"
)

// PNG returns a small valid PNG image (w×h pixels).
func PNG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 7), G: uint8(y * 13), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// Multipart encodes fields and one file as multipart/form-data; it returns
// the body and its content type.
func Multipart(tb testing.TB, fields map[string]string, fileField, filename string, data []byte) ([]byte, string) {
	tb.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		if err := w.WriteField(k, v); err != nil {
			tb.Fatal(err)
		}
	}
	if fileField != "" {
		fw, err := w.CreateFormFile(fileField, filename)
		if err != nil {
			tb.Fatal(err)
		}
		fw.Write(data)
	}
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes(), w.FormDataContentType()
}

// Upload attaches a file to a checklist item of the case through the API.
func (c *Client) Upload(no, item, filename string, data []byte) *Response {
	c.tb.Helper()
	fields := map[string]string{"item": item}
	if c.CSRF == "" {
		// A client logged in through the pages: the page's form token.
		page := c.Get("/cases/" + no + "/materials")
		fields["_csrf"] = FormToken(c.tb, page.Text())
	}
	body, ctype := Multipart(c.tb, fields, "file", filename, data)
	req, err := http.NewRequest(http.MethodPost, c.base+"/api/v1/cases/"+no+"/materials", bytes.NewReader(body))
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", ctype)
	if c.CSRF != "" {
		req.Header.Set("X-CSRF-Token", c.CSRF)
	}
	if c.Lang != "" {
		req.Header.Set("Accept-Language", c.Lang)
	}
	return c.send(req)
}

// AttachAll uploads a small image for every file the case's checklist
// still needs (key and non-key items), as an applicant does before
// submitting; it fails the test if an upload is refused.
func (c *Client) AttachAll(no string) { c.tb.Helper(); c.attach(no, false) }

// AttachKey uploads only what the key items still need: the case can be
// handed in, with the non-key items missing (acceptance with gaps).
func (c *Client) AttachKey(no string) { c.tb.Helper(); c.attach(no, true) }

func (c *Client) attach(no string, keyOnly bool) {
	c.tb.Helper()
	r := c.Get("/api/v1/cases/" + no + "/materials")
	if r.Status != http.StatusOK {
		c.tb.Fatalf("materials of %s: %d %s", no, r.Status, r.Body)
	}
	list, _ := r.JSON(c.tb)["checklist"].([]any)
	img := PNG(c.tb, 8, 8)
	for _, x := range list {
		it, _ := x.(map[string]any)
		item, _ := it["item"].(string)
		key, _ := it["key"].(bool)
		if keyOnly && !key || it["required"] != true {
			continue
		}
		needed := 1
		if n, ok := it["needed"].(float64); ok {
			needed = int(n)
		}
		for up, _ := it["uploaded"].(float64); int(up) < needed; up++ {
			if r := c.Upload(no, item, item+".png", img); r.Status != http.StatusCreated {
				c.tb.Fatalf("upload %s of %s: %d %s", item, no, r.Status, r.Body)
			}
		}
	}
}

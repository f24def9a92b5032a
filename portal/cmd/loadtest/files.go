package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime/multipart"
	"slices"
	"strings"
	"unicode/utf8"

	"tzportal/portal/materials"
	"tzportal/portal/workflow"
)

// Materials (workflows/residence-permit.yaml, checklist): a case is handed
// in with a file for each key item (the submit guard materials_complete)
// and accepted or approved with one for each item its form requires
// (materials_all). The seeded cases that are fired on hold theirs; the
// submit scenario uploads the key items between create and submit.

// keyItems are the residence permit's key checklist items, in checklist
// order: the files the submit scenario uploads (and the pgbench script
// inserts) before handing an application in. checkChecklist compares them
// with the running portal's workflow. (An array: its length is a constant
// of the statement counts.)
var keyItems = [...]string{"id_card", "photo", "address_proof"}

// pngImage encodes a w×h PNG with some variation in it (not one flat colour,
// which compresses to nothing).
func pngImage(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 7), G: uint8(y * 13), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // an in-memory encode of a valid image does not fail
	}
	return b.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

var (
	// seedPNG is the bytes of every seeded material (storage db): a tiny
	// valid PNG, so that a seeded row is like an uploaded one but the
	// seeding writes little.
	seedPNG    = pngImage(1, 1)
	seedPNGSum = sha256Hex(seedPNG)
	// uploadPNG is the file the submit scenario uploads for each key item:
	// small (a real photo is megabytes; the scenario measures the portal's
	// path, not the network or the image codec).
	uploadPNG = pngImage(32, 32)
)

// storedUpload returns what the portal stores for uploadPNG: the image
// decoded and re-encoded (materials.Clean), as the pgbench script inserts it.
func storedUpload() ([]byte, error) {
	data, ctype, err := materials.Clean(bytes.NewReader(uploadPNG), materials.Limits{MaxBytes: 10 << 20, MaxPixels: 40_000_000})
	if err != nil {
		return nil, err
	}
	if ctype != materials.ContentTypePNG {
		return nil, fmt.Errorf("upload: cleaned as %s, want %s", ctype, materials.ContentTypePNG)
	}
	return data, nil
}

// multipartUpload is the body of POST /api/v1/cases/{no}/materials: the
// fields item and file.
type multipartUpload struct {
	body        []byte
	contentType string
}

func newUpload(item string, data []byte) multipartUpload {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	if err := w.WriteField("item", item); err != nil {
		panic(err)
	}
	fw, err := w.CreateFormFile("file", item+".png")
	if err != nil {
		panic(err)
	}
	fw.Write(data)
	if err := w.Close(); err != nil {
		panic(err)
	}
	return multipartUpload{body: b.Bytes(), contentType: w.FormDataContentType()}
}

// checkChecklist refuses a workflow whose key items are not the ones the
// tool uploads: the submit scenario would be refused, or would do less than
// an applicant must.
func checkChecklist(def *workflow.Definition) error {
	var key []string
	for _, it := range def.Checklist {
		if it.Key {
			key = append(key, it.Item)
		}
	}
	if !slices.Equal(key, keyItems[:]) {
		return fmt.Errorf("the %s workflow's key checklist items are %v, the load tool uploads %v: update keyItems (files.go)",
			def.Service, key, keyItems)
	}
	return nil
}

// noticeTexts are a notify step's notice as portal/outbox writes it for a
// seeded applicant (no locale: the default language, a mobile, no email):
// the inbox's title and body and the SMS, rendered from the portal's own
// catalog for a case number of the usual length.
type noticeTexts struct{ kind, title, body, sms string }

func (in *instance) notice(event, caseNo, name string) (noticeTexts, error) {
	l := in.Catalog.L("")
	key := serviceID + ".notify." + event
	for _, part := range []string{".title", ".body", ".sms"} {
		if !l.Has(key + part) {
			return noticeTexts{}, fmt.Errorf("no text %s%s in the portal's catalog", key, part)
		}
	}
	surname := ""
	if r, size := utf8.DecodeRuneInString(strings.TrimSpace(name)); size > 0 {
		surname = string(r)
	}
	data := map[string]any{"CaseNo": caseNo, "Service": l.T(serviceID + ".name"), "Surname": surname, "Due": "", "Reason": "", "Items": ""}
	sms := map[string]any{"CaseNo": caseNo, "Service": data["Service"], "Surname": surname, "Due": ""}
	return noticeTexts{kind: serviceID + "." + event, title: l.T(key+".title", data), body: l.T(key+".body", data),
		sms: l.T(key+".sms", sms)}, nil
}

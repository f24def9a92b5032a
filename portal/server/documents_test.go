package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"io/fs"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"tzportal/portal"
	"tzportal/portal/testkit"
)

// draft creates a residence-permit draft without materials.
func draft(t *testing.T, c *testkit.Client) string {
	t.Helper()
	r := c.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()})
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Body)
	}
	return r.JSON(t)["case_no"].(string)
}

// gpsJPEG is a phone photo with EXIF: an orientation and a GPS position
// written as text, which must not survive the upload.
func gpsJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 8))
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	// TIFF: little endian, IFD0 at 8 with one entry (orientation 1), no
	// next IFD; then the "GPS" text.
	tiff := []byte("II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00")
	tiff = append(tiff, "GPS N32.4545 E119.9229 泰州"...)
	payload := append([]byte("Exif\x00\x00"), tiff...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	seg = append(seg, payload...)
	jpg := b.Bytes()
	return append(append(append([]byte{}, jpg[:2]...), seg...), jpg[2:]...)
}

func checklistOf(t *testing.T, c *testkit.Client, no string) map[string]map[string]any {
	t.Helper()
	r := c.Get("/api/v1/cases/" + no + "/materials")
	if r.Status != 200 {
		t.Fatalf("materials of %s: %d %s", no, r.Status, r.Body)
	}
	out := map[string]map[string]any{}
	for _, x := range r.JSON(t)["checklist"].([]any) {
		it := x.(map[string]any)
		out[it["item"].(string)] = it
	}
	return out
}

func TestMaterials(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := draft(t, j.alice)

		// The checklist: key items, and the basis proof this form's basis
		// (employment) requires.
		list := checklistOf(t, j.alice, no)
		for item, key := range map[string]bool{"id_card": true, "photo": true, "address_proof": true, "basis_proof": false} {
			it := list[item]
			if it == nil || it["key"] != key || it["required"] != true || it["uploaded"] != float64(0) || it["label"] == "" {
				t.Errorf("checklist item %s: %v", item, it)
			}
		}

		// Submitting without the key items names each one.
		r := j.alice.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)
		if r.Status != 422 || !strings.Contains(r.Text(), `"rule":"materials_complete"`) {
			t.Fatalf("submit without materials: %d %s", r.Status, r.Body)
		}
		var fields []string
		for _, e := range r.JSON(t)["errors"].([]any) {
			fields = append(fields, e.(map[string]any)["field"].(string))
		}
		if fmt.Sprint(fields) != "[id_card photo address_proof]" {
			t.Errorf("missing items named: %v (want the three key items)", fields)
		}

		// By content, never by name: an executable named .jpg is 415.
		elf := append([]byte("\x7fELF\x02\x01\x01"), make([]byte, 200)...)
		if r := j.alice.Upload(no, "id_card", "身份证.jpg", elf); r.Status != http.StatusUnsupportedMediaType ||
			!strings.Contains(r.Text(), "PDF") {
			t.Errorf("renamed executable: %d %s", r.Status, r.Body)
		}
		// Larger than the limit: 413.
		big := append([]byte("%PDF-1.7\n"), make([]byte, 10<<20)...)
		if r := j.alice.Upload(no, "id_card", "big.pdf", big); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("oversized file: %d %.300s", r.Status, r.Body)
		}
		// An item the checklist does not have: 422 on the field.
		if r := j.alice.Upload(no, "passport", "p.png", testkit.PNG(t, 4, 4)); r.Status != 422 || !strings.Contains(r.Text(), `"field":"item"`) {
			t.Errorf("unknown item: %d %s", r.Status, r.Body)
		}

		// A phone photo: stored without its EXIF, served as what it is.
		r = j.alice.Upload(no, "id_card", `..\..\身份证 "正面".jpg`, gpsJPEG(t))
		if r.Status != http.StatusCreated {
			t.Fatalf("upload: %d %s", r.Status, r.Body)
		}
		m := r.JSON(t)
		id := m["id"].(string)
		if m["item"] != "id_card" || m["content_type"] != "image/jpeg" || len(m["sha256"].(string)) != 64 ||
			strings.ContainsAny(m["filename"].(string), `\/"`) || m["uploaded_at"] == "" {
			t.Errorf("uploaded: %v", m)
		}
		r = j.alice.Get("/api/v1/cases/" + no + "/materials/" + id)
		if r.Status != 200 || r.Header.Get("Content-Type") != "image/jpeg" || r.Header.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(r.Header.Get("Content-Security-Policy"), "sandbox") ||
			!strings.Contains(r.Header.Get("Content-Disposition"), "filename*=UTF-8''") {
			t.Errorf("download: %d %v", r.Status, r.Header)
		}
		if bytes.Contains(r.Body, []byte("Exif")) || bytes.Contains(r.Body, []byte("GPS")) {
			t.Error("the stored photo still carries its EXIF (GPS position)")
		}
		if _, err := jpeg.Decode(bytes.NewReader(r.Body)); err != nil {
			t.Errorf("the stored photo does not decode: %v", err)
		}

		// Outsiders get 404 as for the case; staff of the street may look,
		// and their look is audited; they may not upload.
		if r := j.bob.Get("/api/v1/cases/" + no + "/materials/" + id); r.Status != 404 {
			t.Errorf("another applicant: %d", r.Status)
		}
		if r := j.otherClerk.Get("/api/v1/cases/" + no + "/materials"); r.Status != 404 {
			t.Errorf("a clerk of another street: %d", r.Status)
		}
		// A draft is the applicant's own: the street sees it once handed in.
		if r := j.clerk.Get("/api/v1/cases/" + no + "/materials"); r.Status != 404 {
			t.Errorf("a clerk before submission: %d", r.Status)
		}

		j.alice.AttachAll(no)
		fire(t, j.alice, no, "submit", nil, 200)
		if r := j.clerk.Get("/api/v1/cases/" + no + "/materials/" + id); r.Status != 200 || !bytes.Equal(r.Body, j.alice.Get("/api/v1/cases/"+no+"/materials/"+id).Body) {
			t.Errorf("the clerk's download: %d", r.Status)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'material.read' AND object = $1 AND actor = $2`,
			"case:"+no, fmt.Sprintf("user:%d", j.clerk1ID)); n != 1 {
			t.Errorf("staff downloads audited: %d entries, want 1", n)
		}
		if r := j.clerk.Upload(no, "photo", "x.png", testkit.PNG(t, 4, 4)); r.Status != 403 {
			t.Errorf("a clerk uploading: %d %s", r.Status, r.Body)
		}
		if r := j.sup.Do("DELETE", "/api/v1/cases/"+no+"/materials/"+id, nil); r.Status != 403 {
			t.Errorf("a supervisor deleting: %d %s", r.Status, r.Body)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM audit_log WHERE action IN ('material.upload', 'material.delete') AND result = 'denied' AND object = $1`, "case:"+no); n != 2 {
			t.Errorf("refused writes audited: %d, want 2", n)
		}
		// Handed in: the applicant's files are fixed until a correction.
		if r := j.alice.Do("DELETE", "/api/v1/cases/"+no+"/materials/"+id, nil); r.Status != 409 {
			t.Errorf("delete after submit: %d %s", r.Status, r.Body)
		}
		fire(t, j.clerk, no, "request_correction", map[string]any{"reason": "身份证照片不清楚", "items": []string{"id_card"}}, 200)
		if r := j.alice.Do("DELETE", "/api/v1/cases/"+no+"/materials/"+id, nil); r.Status != 204 {
			t.Errorf("delete in correction: %d %s", r.Status, r.Body)
		}
		if r := j.alice.Get("/api/v1/cases/" + no + "/materials/" + id); r.Status != 404 {
			t.Errorf("a deleted file: %d", r.Status)
		}
		if it := checklistOf(t, j.alice, no)["id_card"]; it["uploaded"] != float64(0) {
			t.Errorf("the checklist after deleting the only id_card file: %v", it)
		}

		// The HTML page: a task list with an upload form per item that
		// works without JavaScript and opens the camera on a phone.
		page := j.alice.Get("/cases/" + no + "/materials").Text()
		for _, want := range []string{`enctype="multipart/form-data"`, `accept="application/pdf,image/jpeg,image/png"`, `id="item-basis_proof"`, "居民身份证"} {
			if !strings.Contains(page, want) {
				t.Errorf("materials page lacks %s", want)
			}
		}
	})
}

func TestMaterialsPerCaseLimit(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := draft(t, j.alice)
		img := testkit.PNG(t, 2, 2)
		for i := 0; i < 30; i++ {
			if r := j.alice.Upload(no, "photo", "p.png", img); r.Status != 201 {
				t.Fatalf("upload %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		if r := j.alice.Upload(no, "photo", "p.png", img); r.Status != 422 || !strings.Contains(r.Text(), "materials_max") {
			t.Errorf("31st file: %d %s", r.Status, r.Body)
		}
	})
}

func TestAcceptWithGaps(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := draft(t, j.alice)
		j.alice.AttachKey(no)
		fire(t, j.alice, no, "submit", nil, 200)

		// Not everything is there: a plain acceptance is refused, and an
		// acceptance with gaps must name what is missing, non-key only.
		fire(t, j.clerk, no, "accept", nil, 422)
		fire(t, j.clerk, no, "accept_with_gaps", map[string]any{"items": []string{"photo"}}, 422)
		m := fire(t, j.clerk, no, "accept_with_gaps", map[string]any{"items": []string{"basis_proof"}}, 200)
		if m["state"] != "awaiting_supplement" {
			t.Fatalf("after accept_with_gaps: %v", m["state"])
		}
		// The applicant may add files now, not edit the form; sending the
		// supplement needs the promised item.
		fire(t, j.alice, no, "supplement", nil, 422)
		if r := j.alice.Upload(no, "basis_proof", "劳动合同.pdf", []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF\n")); r.Status != 201 {
			t.Fatalf("supplement upload: %d %s", r.Status, r.Body)
		}
		fire(t, j.alice, no, "supplement", nil, 200)
		m = fire(t, j.clerk, no, "approve", nil, 200)
		if m["state"] != "approved" {
			t.Fatalf("approved: %v", m)
		}

		// A promise not kept: the timer ends the case.
		no2 := draft(t, j.bob)
		j.bob.AttachKey(no2)
		fire(t, j.bob, no2, "submit", nil, 200)
		fire(t, j.clerk, no2, "accept_with_gaps", map[string]any{"items": []string{"basis_proof"}}, 200)
		// The clerk cannot end it before the promised deadline.
		if r := j.clerk.Do("POST", "/api/v1/cases/"+no2+"/events/terminate", nil); r.Status != 422 || !strings.Contains(r.Text(), "deadline_passed") {
			t.Errorf("terminate before the deadline: %d %s", r.Status, r.Body)
		}
		j.p.Clock.Advance(40 * 24 * time.Hour)
		if n, err := j.p.Engine.RunDueTimers(context.Background()); err != nil || n != 1 {
			t.Fatalf("timers: %d %v", n, err)
		}
		if n := j.p.Count(t, `SELECT count(*) FROM cases WHERE case_no = $1 AND state = 'terminated' AND NOT in_queue`, no2); n != 1 {
			t.Error("the case was not terminated after the supplement deadline")
		}
	})
}

func TestNotificationsInTheInbox(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := draft(t, j.alice)
		j.alice.AttachAll(no)
		fire(t, j.alice, no, "submit", nil, 200)
		fire(t, j.clerk, no, "request_correction", map[string]any{"reason": "照片不清楚", "items": []string{"photo", "房东身份证复印件"}}, 200)

		r := j.alice.Get("/api/v1/notifications").JSON(t)
		items := r["items"].([]any)
		if r["unread"] != float64(2) || len(items) != 2 {
			t.Fatalf("inbox: %v", r)
		}
		corr := items[0].(map[string]any) // newest first
		if corr["case_no"] != no || corr["kind"] != "residence-permit.request_correction" || corr["read"] != false ||
			!strings.Contains(corr["body"].(string), "近期免冠照片") || !strings.Contains(corr["body"].(string), "房东身份证复印件") ||
			!strings.Contains(corr["body"].(string), "照片不清楚") {
			t.Errorf("correction notice: %v", corr)
		}
		// Nobody else sees it; the owner marks it read.
		if r := j.bob.Do("POST", fmt.Sprintf("/api/v1/notifications/%v/read", corr["id"]), nil); r.Status != 404 {
			t.Errorf("someone else's notice: %d", r.Status)
		}
		if r := j.alice.Do("POST", fmt.Sprintf("/api/v1/notifications/%v/read", corr["id"]), nil); r.Status != 204 {
			t.Errorf("mark read: %d %s", r.Status, r.Body)
		}
		if u := j.alice.Get("/api/v1/notifications").JSON(t)["unread"]; u != float64(1) {
			t.Errorf("unread after reading one: %v", u)
		}
		if page := j.alice.Get("/cases").Text(); !strings.Contains(page, `<span class="count">1`) {
			t.Error("the header shows no unread count")
		}

		// Each notice has its SMS: surname only, no ID number, no full name.
		for _, row := range deliveries(t, j.p, no) {
			if row.channel != "sms" || row.recipient != testkit.Applicants[0].Mobile || !strings.Contains(row.body, "张") ||
				strings.Contains(row.body, "张三") || strings.Contains(row.body, testkit.Applicants[0].IDNumber) ||
				strings.Contains(row.body, "照片不清楚") {
				t.Errorf("SMS: %+v", row)
			}
		}
		// A step that rolls back writes nothing: a refused accept (stale version).
		before := j.p.Count(t, `SELECT count(*) FROM notifications`)
		fire(t, j.alice, no, "submit", map[string]any{"version": 1}, 409)
		if after := j.p.Count(t, `SELECT count(*) FROM notifications`); after != before {
			t.Errorf("a refused step wrote %d notifications", after-before)
		}
	})
}

type deliveryRow struct{ channel, recipient, body, status string }

func deliveries(t *testing.T, p *testkit.Portal, no string) []deliveryRow {
	t.Helper()
	rows, err := p.DB.SQL().Query(`SELECT d.channel, d.recipient, d.body, d.status FROM deliveries d
		JOIN notifications n ON n.id = d.notification_id JOIN cases c ON c.id = n.case_id WHERE c.case_no = $1 ORDER BY d.id`, no)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []deliveryRow
	for rows.Next() {
		var d deliveryRow
		if err := rows.Scan(&d.channel, &d.recipient, &d.body, &d.status); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		t.Fatal("no deliveries")
	}
	return out
}

func TestCertificateVerifiedByAnyone(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		j := newJourney(t, b)
		no := draft(t, j.alice)
		j.alice.AttachAll(no)
		fire(t, j.alice, no, "submit", nil, 200)
		fire(t, j.clerk, no, "accept", nil, 200)
		fire(t, j.clerk, no, "approve", nil, 200)

		cert := j.alice.Get("/api/v1/cases/" + no + "/certificate").JSON(t)
		url, _ := cert["verify_url"].(string)
		if cert["kind"] != "residence-permit" || cert["status"] != "valid" || cert["valid_until"] != "2027-11-29" ||
			cert["issued_at"] != "2026-11-30" || !strings.Contains(url, "/verify/v1.") || !strings.HasPrefix(fmt.Sprint(cert["number"]), "JZ") {
			t.Fatalf("certificate: %v", cert)
		}
		if r := j.bob.Get("/api/v1/cases/" + no + "/certificate"); r.Status != 404 {
			t.Errorf("someone else's certificate: %d", r.Status)
		}
		token := url[strings.LastIndex(url, "/")+1:]

		// Anyone, without logging in, sees only what they need.
		anon := j.p.NewClient(t)
		v := anon.Get("/api/v1/verify/" + token).JSON(t)
		want := map[string]any{"status": "valid", "kind": "residence-permit", "number": cert["number"], "holder": "张*",
			"id_number": "3212**********0017", "issued_at": "2026-11-30", "valid_until": "2027-11-29"}
		if fmt.Sprint(v) != fmt.Sprint(want) {
			t.Errorf("verification: %v\nwant %v", v, want)
		}
		if page := anon.Get("/verify/" + token).Text(); !strings.Contains(page, "证照有效") || strings.Contains(page, "张三") ||
			strings.Contains(page, testkit.Applicants[0].IDNumber) {
			t.Error("the verify page: wrong status, or more than the masked holder")
		}
		// The printable page carries the QR code (inline SVG) of the URL.
		if page := j.alice.Get("/cases/" + no + "/certificate").Text(); !strings.Contains(page, "<svg") || !strings.Contains(page, token) {
			t.Error("certificate page: no QR code or URL")
		}

		// Offline: the signature checks against the published key alone.
		key := anon.Get("/api/v1/verify/key").JSON(t)
		pub, err := base64.RawURLEncoding.DecodeString(key["public_key"].(string))
		if err != nil || key["alg"] != "Ed25519" {
			t.Fatalf("key document: %v", key)
		}
		parts := strings.Split(token, ".")
		sig, _ := base64.RawURLEncoding.DecodeString(parts[3])
		if len(parts) != 4 || parts[1] != key["kid"] || !ed25519.Verify(pub, []byte(strings.Join(parts[:3], ".")), sig) {
			t.Error("the token's signature does not check against the published key")
		}
		payload, _ := base64.RawURLEncoding.DecodeString(parts[2])
		var claims map[string]string
		if json.Unmarshal(payload, &claims) != nil || claims["n"] != cert["number"] || claims["h"] != "张*" {
			t.Errorf("claims: %s", payload)
		}

		// Forged or altered tokens are unknown.
		forged := strings.Join([]string{parts[0], parts[1], base64.RawURLEncoding.EncodeToString([]byte(
			strings.Replace(string(payload), `"h":"张*"`, `"h":"李*"`, 1))), parts[3]}, ".")
		for _, bad := range []string{forged, token[:len(token)-2], "v1.nothing", strings.Repeat("a", 600)} {
			if r := anon.Get("/api/v1/verify/" + bad); r.Status != 404 {
				t.Errorf("bad token %.30s…: %d", bad, r.Status)
			}
		}
		if n := j.p.Count(t, `SELECT verified FROM certificates WHERE number = $1`, cert["number"]); n != 2 {
			t.Errorf("verifications counted: %d, want 2", n)
		}
		// A year later without endorsement, the permit is suspended (its
		// lapse), until a late endorsement.
		j.p.Clock.Advance(366 * 24 * time.Hour)
		if v := j.p.NewClient(t).Get("/api/v1/verify/" + token).JSON(t); v["status"] != "suspended" {
			t.Errorf("a year later: %v", v["status"])
		}
		// Enumeration is throttled per address.
		got429 := false
		for i := 0; i < 70 && !got429; i++ {
			got429 = anon.Get("/api/v1/verify/v1.x.y.z").Status == http.StatusTooManyRequests
		}
		if !got429 {
			t.Error("verification is not throttled")
		}

	})
}

// auditFault fails the audit append of one action while armed: the step's
// whole transaction rolls back.
type auditFault struct {
	portal.Store
	action string
	armed  *atomic.Bool
}

func (s auditFault) Tx(ctx context.Context, fn func(portal.Tx) error) error {
	return s.Store.Tx(ctx, func(tx portal.Tx) error { return fn(auditFaultTx{tx, s.action, s.armed}) })
}

type auditFaultTx struct {
	portal.Tx
	action string
	armed  *atomic.Bool
}

func (t auditFaultTx) AppendAudit(ctx context.Context, e *portal.AuditEntry) error {
	if t.armed.Load() && e.Action == t.action {
		return errors.New("injected: the disk is full")
	}
	return t.Tx.AppendAudit(ctx, e)
}

// TestFailedStepsLeaveNothing: an upload whose transaction fails leaves
// neither row nor file; a submission that fails leaves no notice and
// nothing to send.
func TestFailedStepsLeaveNothing(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		for _, action := range []string{"material.upload", "case.submit"} {
			armed := &atomic.Bool{}
			p := testkit.StartWith(t, testkit.Options{Backend: b,
				WrapStore: func(s portal.Store) portal.Store { return auditFault{s, action, armed} }})
			_, c := p.NewApplicant(t, "申请人")
			no := draft(t, c)
			if action == "case.submit" {
				c.AttachAll(no)
			}
			armed.Store(true)
			if action == "material.upload" {
				if r := c.Upload(no, "photo", "p.png", testkit.PNG(t, 4, 4)); r.Status != 500 {
					t.Fatalf("upload with the audit failing: %d %s", r.Status, r.Body)
				}
				if n := p.Count(t, `SELECT count(*) FROM materials`); n != 0 {
					t.Errorf("%d material rows after a failed upload", n)
				}
				files := 0
				filepath.WalkDir(filepath.Join(p.Config.DataDir, "materials"), func(_ string, d fs.DirEntry, err error) error {
					if err == nil && !d.IsDir() {
						files++
					}
					return nil
				})
				if files != 0 || p.Count(t, `SELECT count(*) FROM material_blobs`) != 0 {
					t.Errorf("bytes left after a failed upload: %d files", files)
				}
				continue
			}
			if r := c.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil); r.Status != 500 {
				t.Fatalf("submit with the audit failing: %d %s", r.Status, r.Body)
			}
			if n := p.Count(t, `SELECT count(*) FROM notifications`) + p.Count(t, `SELECT count(*) FROM deliveries`); n != 0 {
				t.Errorf("a failed submission left %d notices or deliveries", n)
			}
		}
	})
}

// TestEmailForNotices: an applicant gives the address notices also go to
// on their account page; a bad one is refused next to the field and kept
// as typed; the change is audited without the address.
func TestEmailForNotices(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		u, c := p.NewApplicant(t, "申请人")
		page := c.Get("/account").Text()
		r := c.Post("/account/email", "_csrf", testkit.FormToken(t, page), "email", "zhang san@")
		if r.Status != 422 || !strings.Contains(r.Text(), `value="zhang san@"`) || !strings.Contains(r.Text(), "格式不正确") {
			t.Fatalf("a bad address: %d %s", r.Status, r.Body)
		}
		r = c.Post("/account/email", "_csrf", testkit.FormToken(t, page), "email", "zhang.san@example.cn")
		if r.Status != http.StatusSeeOther {
			t.Fatalf("a good address: %d %s", r.Status, r.Body)
		}
		if n := p.Count(t, `SELECT count(*) FROM users WHERE id = $1 AND email = 'zhang.san@example.cn'`, u.ID); n != 1 {
			t.Error("the address was not saved")
		}
		if n := p.Count(t, `SELECT count(*) FROM audit_log WHERE action = 'account.email' AND detail NOT LIKE '%example%'`); n != 1 {
			t.Errorf("account.email audit entries without the address: %d", n)
		}
		if page := c.Get("/account").Text(); !strings.Contains(page, `value="zhang.san@example.cn"`) {
			t.Error("the account page does not show the address")
		}
	})
}

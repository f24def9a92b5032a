package server

import (
	"io"
	"mime/multipart"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/locale"
	"tzportal/portal/materials"
	"tzportal/portal/workflow"
)

// checklistDoc is one checklist item as the API and the page show it.
type checklistDoc struct {
	Item     string `json:"item"`
	Key      bool   `json:"key"`
	Required bool   `json:"required"`
	Label    string `json:"label"`
	Uploaded int    `json:"uploaded"`
	// Needed is how many files the item needs (one per family member for
	// a per-member item; 0 when it does not apply).
	Needed int `json:"needed"`
	// For the page.
	PerEntry bool              `json:"-"` // one file per entry of a list of the form (family members)
	Hint     string            `json:"-"`
	Files    []portal.Material `json:"-"`
	Status   string            `json:"-"` // done, missing, optional (not needed), later (non-key, may follow)
}

func checklistDocs(l *locale.L, v *workflow.MaterialsView) []checklistDoc {
	out := make([]checklistDoc, 0, len(v.Checklist))
	for i, st := range v.Checklist {
		d := checklistDoc{Item: st.Item, Key: st.Key, Required: st.Required(), Uploaded: st.Uploaded, Needed: st.Needed,
			Label: l.T(v.Def.Service + ".material." + st.Item), PerEntry: v.Def.Checklist[i].Per != ""}
		if id := v.Def.Service + ".material_hint." + st.Item; l.Has(id) {
			d.Hint = l.T(id)
		}
		for _, m := range v.Items {
			if m.Item == st.Item {
				d.Files = append(d.Files, m)
			}
		}
		switch {
		case !st.Required():
			d.Status = "optional"
		case !st.Missing():
			d.Status = "done"
		case st.Key:
			d.Status = "missing"
		default:
			d.Status = "later"
		}
		out = append(out, d)
	}
	return out
}

func (s *Server) apiMaterials(c *fiber.Ctx) error {
	v, err := s.Engine.Materials(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"checklist": checklistDocs(loc(c), v), "items": v.Items})
}

// upload reads the multipart form's item and file and attaches the file.
func (s *Server) upload(c *fiber.Ctx) (*portal.Material, string, error) {
	item := c.FormValue("item")
	var body io.Reader // nil: no file sent (the engine checks access first)
	name := ""
	if fh, err := c.FormFile("file"); err == nil {
		f, err := fh.Open()
		if err != nil {
			return nil, item, err
		}
		defer func(f multipart.File) { _ = f.Close() }(f)
		body, name = f, fh.Filename
	}
	m, err := s.Engine.AddMaterial(ctx(c), actor(c), c.Params("no"), item, name, body)
	return m, item, err
}

func (s *Server) apiUploadMaterial(c *fiber.Ctx) error {
	m, _, err := s.upload(c)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(m)
}

func (s *Server) apiDeleteMaterial(c *fiber.Ctx) error {
	if err := s.Engine.RemoveMaterial(ctx(c), actor(c), c.Params("no"), c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// material sends one file: the content type it was checked to be, never
// the client's; a safe file name; no sniffing; and a CSP that sandboxes it
// (a PDF's scripts and forms run nowhere), for the API and the pages alike.
func (s *Server) material(c *fiber.Ctx) error {
	m, data, err := s.Engine.OpenMaterial(ctx(c), actor(c), c.Params("no"), c.Params("id"))
	if err != nil {
		return err
	}
	disposition := "attachment"
	if c.Query("inline") == "1" {
		disposition = "inline"
	}
	c.Set(fiber.HeaderContentType, m.ContentType)
	c.Set(fiber.HeaderContentDisposition, materials.ContentDisposition(disposition, m.Filename))
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'")
	c.Set(fiber.HeaderCacheControl, "private, no-store")
	c.Set("Cross-Origin-Resource-Policy", "same-origin")
	return c.Send(data)
}

// materialsData is the materials page.
type materialsData struct {
	CaseNo      string
	ServiceName string
	Items       []checklistDoc
	Editable    bool
	Owner       bool
	Accept      string
	MaxMiB      int64
	MaxFiles    int
	Count       int
	Done        string // "uploaded", "deleted"
	// Failed is the item whose upload failed, with its message.
	Failed, FailedMsg string
	// Ready: every key item is there (the applicant may go and submit).
	Ready bool
}

func (s *Server) materialsPageWith(c *fiber.Ctx, status int, done, failed string, failErr error) error {
	no := c.Params("no")
	v, err := s.Engine.Materials(ctx(c), actor(c), no)
	if err != nil {
		return err
	}
	l := loc(c)
	d := &materialsData{CaseNo: no, ServiceName: l.T(v.Def.Service + ".name"), Items: checklistDocs(l, v),
		Editable: v.Editable, Owner: v.Owner, Accept: materials.Accept, MaxMiB: v.Limits.MaxBytes >> 20,
		MaxFiles: v.MaxFiles, Count: len(v.Items), Done: done, Failed: failed, Ready: true}
	for _, it := range d.Items {
		if it.Status == "missing" {
			d.Ready = false
		}
	}
	p := s.newPage(c, "materials.title", d)
	p.Service = v.Def.Service
	if failErr != nil {
		pe := portal.AsError(failErr)
		if pe == nil || pe.Code == portal.EINTERNAL || pe.Code == portal.EUNAVAILABLE {
			return failErr
		}
		msg := l.Error(pe)
		if len(pe.Fields) > 0 {
			msg = l.Field(pe.Fields[0], "materials")
		}
		d.FailedMsg = msg
		p.Summary = []summaryItem{{Field: "file-" + failed, Message: msg}}
	}
	return s.write(c, status, "materials", p)
}

func (s *Server) materialsPage(c *fiber.Ctx) error {
	return s.materialsPageWith(c, fiber.StatusOK, c.Query("done"), "", nil)
}

// uploadMaterial is the page's upload form (works without JavaScript): on
// success back to the list, else the list again with the message next to
// the item's form.
func (s *Server) uploadMaterial(c *fiber.Ctx) error {
	_, item, err := s.upload(c)
	if err != nil {
		st := status(portal.ErrorCode(err))
		if st >= 500 {
			return err
		}
		return s.materialsPageWith(c, st, "", item, err)
	}
	return redirect(c, "/cases/"+c.Params("no")+"/materials?done=uploaded#item-"+item)
}

func (s *Server) deleteMaterial(c *fiber.Ctx) error {
	if err := s.Engine.RemoveMaterial(ctx(c), actor(c), c.Params("no"), c.Params("id")); err != nil {
		return err
	}
	return redirect(c, "/cases/"+c.Params("no")+"/materials?done=deleted")
}

// sizeText shows a file size for people.
func sizeText(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt((n+1023)>>10, 10) + " KB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

package workflow

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/materials"
)

// Settings every service with a checklist declares (workflow file,
// settings): the largest file, the most files per case, the most pixels of
// an image.
const (
	settingMaterialMaxMiB    = "material_max_mib"
	settingMaterialsMax      = "materials_max"
	settingMaterialMaxPixels = "material_max_megapixels"
)

// ChecklistStatus is one checklist item of a case as the form's answers and
// the uploaded files make it.
type ChecklistStatus struct {
	Item     string
	Key      bool
	Needed   int // files needed: 0 when the item does not apply to this case
	Uploaded int
}

// Required reports whether the case needs the item.
func (s ChecklistStatus) Required() bool { return s.Needed > 0 }

// Missing reports whether the case needs more files of the item.
func (s ChecklistStatus) Missing() bool { return s.Uploaded < s.Needed }

// MaterialsView is a case's checklist and files as one person may see them.
type MaterialsView struct {
	Case      *portal.Case
	Def       *Definition
	Checklist []ChecklistStatus
	Items     []portal.Material
	// Editable: the viewer may add and remove files now.
	Editable bool
	Owner    bool
	Limits   materials.Limits
	MaxFiles int
}

// checklist works out the case's checklist from its form and files.
func checklist(def *Definition, form json.RawMessage, items []portal.Material) []ChecklistStatus {
	var values map[string]any
	_ = json.Unmarshal(form, &values)
	out := make([]ChecklistStatus, 0, len(def.Checklist))
	for _, it := range def.Checklist {
		st := ChecklistStatus{Item: it.Item, Key: it.Key, Needed: it.Needed(values)}
		for _, m := range items {
			if m.Item == it.Item {
				st.Uploaded++
			}
		}
		out = append(out, st)
	}
	return out
}

// materialLimits reads a service's limits on materials from its settings.
func materialLimits(def *Definition) (materials.Limits, int) {
	return materials.Limits{
		MaxBytes:  int64(def.Limit(Limit{Setting: settingMaterialMaxMiB})) << 20,
		MaxPixels: int64(def.Limit(Limit{Setting: settingMaterialMaxPixels})) * 1_000_000,
	}, def.Limit(Limit{Setting: settingMaterialsMax})
}

// MaxUpload returns the largest file any service accepts (the server's
// body limit is set from it).
func (e *Engine) MaxUpload() int64 {
	var n int64
	for _, def := range e.Definitions() {
		if l, _ := materialLimits(def); l.MaxBytes > n {
			n = l.MaxBytes
		}
	}
	return n
}

// mayChangeMaterials reports whether actor may add or remove the case's
// files now: its applicant, in a state where the applicant edits the form
// or sends materials.
func (e *Engine) mayChangeMaterials(actor portal.Actor, c *portal.Case, def *Definition) bool {
	return actor.User != nil && actor.User.ID == c.ApplicantID && def.States[c.State].MaterialsEditable(portal.RoleApplicant)
}

// caseForMaterials reads a case for a materials request and refuses one
// the actor may not see (404, audited as a read) or whose service has no
// checklist (404).
func (e *Engine) caseForMaterials(ctx context.Context, actor portal.Actor, no string) (*portal.Case, *Definition, error) {
	if err := checkCaseNo(no); err != nil {
		return nil, nil, err
	}
	c, hist, err := e.Store.CaseWithHistory(ctx, no)
	if err != nil {
		return nil, nil, err
	}
	if !e.visible(actor, c, hist) {
		e.Denied(ctx, actor, "case.read", no)
		return nil, nil, portal.NotFound(fmt.Errorf("workflow.materials(%s): out of reach", no))
	}
	def := e.entry(c.Service).Def
	if len(def.Checklist) == 0 {
		return nil, nil, portal.NotFound(fmt.Errorf("workflow.materials(%s): %s has no checklist", no, c.Service))
	}
	return c, def, nil
}

// Materials returns the case's checklist and files, for anyone who may see
// the case.
func (e *Engine) Materials(ctx context.Context, actor portal.Actor, no string) (*MaterialsView, error) {
	c, def, err := e.caseForMaterials(ctx, actor, no)
	if err != nil {
		return nil, err
	}
	if err := e.recordView(ctx, actor, c); err != nil {
		return nil, err
	}
	items, err := e.Store.Materials(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	limits, maxFiles := materialLimits(def)
	return &MaterialsView{Case: c, Def: def, Checklist: checklist(def, c.Form, items), Items: items,
		Editable: e.mayChangeMaterials(actor, c, def), Owner: actor.User.ID == c.ApplicantID,
		Limits: limits, MaxFiles: maxFiles}, nil
}

// MaterialsOf returns the checklist and files of a case already read for
// the viewer (the case page), without reading the case again.
func (e *Engine) MaterialsOf(ctx context.Context, actor portal.Actor, v *View) (*MaterialsView, error) {
	if len(v.Def.Checklist) == 0 {
		return nil, nil
	}
	items, err := e.Store.Materials(ctx, v.Case.ID)
	if err != nil {
		return nil, err
	}
	limits, maxFiles := materialLimits(v.Def)
	return &MaterialsView{Case: v.Case, Def: v.Def, Checklist: checklist(v.Def, v.Case.Form, items), Items: items,
		Editable: e.mayChangeMaterials(actor, v.Case, v.Def), Owner: v.Owner, Limits: limits, MaxFiles: maxFiles}, nil
}

// refuseMaterialChange says why actor may not change the case's files: 403
// (audited) for anyone but its applicant, 409 for the applicant while the
// case is not theirs to change.
func (e *Engine) refuseMaterialChange(ctx context.Context, actor portal.Actor, c *portal.Case, action string) error {
	if actor.User == nil || actor.User.ID != c.ApplicantID {
		e.Denied(ctx, actor, action, c.No)
		return &portal.Error{Code: portal.EFORBIDDEN, Message: "error.materials_applicant_only",
			Err: fmt.Errorf("workflow: %s on %s by someone else", action, c.No)}
	}
	return &portal.Error{Code: portal.ECONFLICT, Message: "error.materials_locked",
		Err: fmt.Errorf("workflow: %s on %s in state %s", action, c.No, c.State)}
}

// newMaterialID returns a random id: 26 characters of [a-z2-7].
func newMaterialID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// AddMaterial attaches a file to an item of the case's checklist: read
// from body up to the service's limit (413 beyond), kept only if its
// content is a PDF, JPEG or PNG (415 otherwise), images re-encoded (their
// EXIF, such as a GPS position, dropped); body nil is a request without a
// file. The file is stored before the row commits; a failed transaction
// removes it again.
func (e *Engine) AddMaterial(ctx context.Context, actor portal.Actor, no, item, filename string, body io.Reader) (*portal.Material, error) {
	c, def, err := e.caseForMaterials(ctx, actor, no)
	if err != nil {
		return nil, err
	}
	if !e.mayChangeMaterials(actor, c, def) {
		return nil, e.refuseMaterialChange(ctx, actor, c, "material.upload")
	}
	if !slices.Contains(def.Material, item) {
		return nil, portal.Invalid(portal.FieldError{Field: "item", Rule: "oneof"})
	}
	if body == nil {
		return nil, portal.Invalid(portal.FieldError{Field: "file", Rule: "required"})
	}
	limits, maxFiles := materialLimits(def)
	// Decoding and re-encoding an image takes a core and up to a few
	// hundred MB: as many at a time as there are cores.
	select {
	case e.cleaning <- struct{}{}:
	case <-ctx.Done():
		return nil, portal.Unavailable("materials", ctx.Err())
	}
	data, ctype, err := materials.Clean(body, limits)
	<-e.cleaning
	switch {
	case errors.Is(err, materials.ErrTooLarge):
		return nil, &portal.Error{Code: portal.ETOOLARGE, Message: "error.material_too_large",
			Data: map[string]any{"MaxMiB": limits.MaxBytes >> 20}, Err: err}
	case errors.Is(err, materials.ErrType):
		return nil, &portal.Error{Code: portal.EUNSUPPORTED, Message: "error.material_type", Err: err}
	case errors.Is(err, materials.ErrImage):
		e := portal.Invalid(portal.FieldError{Field: "file", Rule: "image"})
		e.Err = err
		return nil, e
	case err != nil:
		return nil, err
	}
	sum := sha256.Sum256(data)
	m := &portal.Material{ID: newMaterialID(), CaseID: c.ID, Item: item, Filename: materials.SafeFilename(filename),
		ContentType: ctype, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:]), Storage: e.Files.Name(),
		UploadedBy: actor.User.ID}
	if err := e.Files.Stage(ctx, m.ID, data); err != nil {
		return nil, fmt.Errorf("workflow.AddMaterial(%s): %w", no, err)
	}
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		locked, err := tx.CaseByNoForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.mayChangeMaterials(actor, locked, def) {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.materials_locked"}
		}
		items, err := tx.Materials(ctx, c.ID)
		if err != nil {
			return err
		}
		if len(items) >= maxFiles {
			return portal.RuleError("materials_max", "error.materials_max", map[string]any{"Max": maxFiles})
		}
		m.UploadedAt = e.Now()
		if err := tx.InsertMaterial(ctx, m); err != nil {
			return err
		}
		if err := e.Files.Store(ctx, tx, m.ID, data); err != nil {
			return err
		}
		ent := audit.Entry(actor, "material.upload", caseObject(no), audit.ResultOK)
		ent.Division = c.Division
		ent = audit.WithDetail(ent, map[string]any{"id": m.ID, "item": item, "size": m.Size, "sha256": m.SHA256,
			"content_type": ctype})
		return e.Audit.Append(ctx, tx, ent)
	})
	if err != nil {
		// Nothing refers to the file: take it away (the database store
		// rolled it back with the row).
		if rerr := e.Files.Remove(context.WithoutCancel(ctx), m.ID); rerr != nil {
			e.Log.Error("materials: orphan file after a failed upload", "id", m.ID, "err", rerr)
		}
		return nil, err
	}
	return m, nil
}

// RemoveMaterial deletes one of the case's files, for its applicant while
// the case is theirs to change.
func (e *Engine) RemoveMaterial(ctx context.Context, actor portal.Actor, no, id string) error {
	c, def, err := e.caseForMaterials(ctx, actor, no)
	if err != nil {
		return err
	}
	if !e.mayChangeMaterials(actor, c, def) {
		return e.refuseMaterialChange(ctx, actor, c, "material.delete")
	}
	var item string
	err = e.Store.Tx(ctx, func(tx portal.Tx) error {
		locked, err := tx.CaseByNoForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.mayChangeMaterials(actor, locked, def) {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.materials_locked"}
		}
		m, err := tx.Material(ctx, c.ID, id)
		if err != nil {
			return err
		}
		item = m.Item
		if err := tx.DeleteMaterial(ctx, c.ID, id); err != nil {
			return err
		}
		ent := audit.Entry(actor, "material.delete", caseObject(no), audit.ResultOK)
		ent.Division = c.Division
		ent = audit.WithDetail(ent, map[string]any{"id": id, "item": m.Item, "sha256": m.SHA256})
		return e.Audit.Append(ctx, tx, ent)
	})
	if err != nil {
		return err
	}
	// After the commit: a crash before this leaves an orphan file for
	// fsck, never a row without its file.
	if err := e.Files.Remove(context.WithoutCancel(ctx), id); err != nil {
		e.Log.Error("materials: file of a deleted material not removed", "id", id, "item", item, "err", err)
	}
	return nil
}

// OpenMaterial returns one of the case's files for anyone who may see the
// case. Staff reading a person's document is an audit entry (PIPL: who
// looked at whose documents), written before the bytes are handed out.
func (e *Engine) OpenMaterial(ctx context.Context, actor portal.Actor, no, id string) (*portal.Material, []byte, error) {
	c, _, err := e.caseForMaterials(ctx, actor, no)
	if err != nil {
		return nil, nil, err
	}
	m, err := e.Store.Material(ctx, c.ID, id)
	if err != nil {
		return nil, nil, err
	}
	if acc := e.Access(actor, c, portal.AccessMaterial); acc != nil {
		// The audit entry and the applicant's access log, together.
		ent := audit.Entry(actor, "material.read", caseObject(no), audit.ResultOK)
		ent.Role, ent.Division = acc.Role, c.Division
		ent = audit.WithDetail(ent, map[string]any{"id": m.ID, "item": m.Item})
		if err := e.Store.Tx(ctx, func(tx portal.Tx) error {
			if err := e.Audit.Append(ctx, tx, ent); err != nil {
				return err
			}
			return tx.RecordAccess(ctx, *acc)
		}); err != nil {
			return nil, nil, err
		}
	}
	data, err := e.Files.Get(ctx, e.Store, m.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("workflow.OpenMaterial(%s, %s): %w", no, id, err)
	}
	return m, data, nil
}

// missingMaterials lists the checklist items the case still needs files
// for: only key items, or all.
func missingMaterials(ctx context.Context, f *Firing, keyOnly bool) ([]string, error) {
	items, err := f.Tx.Materials(ctx, f.Case.ID)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, st := range checklist(f.Def, f.Case.Form, items) {
		if st.Missing() && (st.Key || !keyOnly) {
			missing = append(missing, st.Item)
		}
	}
	return missing, nil
}

// refuseMissing is the 422 of the materials_complete rule, naming each
// missing checklist item as a field.
func refuseMissing(def *Definition, missing []string) error {
	e := portal.RuleError("materials_complete", "error.materials_complete", map[string]any{"Count": len(missing)})
	for _, it := range missing {
		e.Fields = append(e.Fields, portal.FieldError{Field: it, Rule: "material_missing"})
	}
	e.Labels = def.Service + ".material"
	return e
}

// builtinHooks are the guards and actions every service may name in its
// workflow file.
func builtinHooks() Hooks {
	return Hooks{Actions: map[string]Action{"issue_certificate": issueCertificate}, Guards: map[string]Guard{
		// Key items must be there to hand a case in.
		"materials_complete": func(ctx context.Context, f *Firing) error {
			missing, err := missingMaterials(ctx, f, true)
			if err != nil || len(missing) == 0 {
				return err
			}
			return refuseMissing(f.Def, missing)
		},
		// Every required item must be there: accepting without gaps,
		// sending the supplement, issuing the result.
		"materials_all": func(ctx context.Context, f *Firing) error {
			missing, err := missingMaterials(ctx, f, false)
			if err != nil || len(missing) == 0 {
				return err
			}
			return refuseMissing(f.Def, missing)
		},
		// Accepting with gaps names exactly the missing items, all non-key.
		"gaps_named": func(ctx context.Context, f *Firing) error {
			missing, err := missingMaterials(ctx, f, false)
			if err != nil {
				return err
			}
			named, _ := f.Input.Values["items"].([]string)
			for _, it := range missing {
				if !slices.Contains(named, it) {
					return portal.RuleError("gaps_named", "error.gaps_named", map[string]any{"Item": it})
				}
			}
			for _, st := range checklist(f.Def, f.Case.Form, nil) {
				if st.Key && slices.Contains(missing, st.Item) {
					return portal.RuleError("gaps_key_missing", "error.gaps_key_missing", map[string]any{"Item": st.Item})
				}
			}
			if len(missing) == 0 {
				return portal.RuleError("gaps_none", "error.gaps_none", nil)
			}
			return nil
		},
		// A deadline the applicant was promised holds: staff may end the
		// case for it only once it has passed (the timer fires then).
		"deadline_passed": func(_ context.Context, f *Firing) error {
			if due := f.Case.DueAt; due != nil && f.Now.Before(*due) {
				return portal.RuleError("deadline_passed", "error.deadline_passed",
					map[string]any{"Due": f.Cal.LastDay(*due).In(f.Cal.Zone).Format(time.DateOnly)})
			}
			return nil
		},
	}}
}

package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tzportal/portal"
	"tzportal/portal/audit"
	"tzportal/portal/validate"
)

// issueCertificate is the engine's action issue_certificate: the case's
// result already holds the number (and the end of validity) the service's
// own action gave it; the certificate makes them verifiable by anyone.
func issueCertificate(ctx context.Context, f *Firing) error {
	spec := f.Def.Certificate
	if spec == nil {
		return fmt.Errorf("workflow: %s names issue_certificate but has no certificate", f.Def.File)
	}
	res := resultTexts(f.Case.Result)
	number := res[spec.Number]
	if number == "" {
		return fmt.Errorf("workflow: %s: issue_certificate found no %s in the result (list its action first)", f.Case.No, spec.Number)
	}
	cert := &portal.Certificate{Number: number, Kind: spec.Kind, CaseID: f.Case.ID, CaseNo: f.Case.No,
		HolderID: f.Case.ApplicantID, Status: portal.CertValid, IssuedAt: f.Now, UpdatedAt: f.Now,
		YearsSince: f.Now.In(f.Cal.Zone).Format("2006-01-02")}
	if spec.ValidUntil != "" {
		cert.ValidUntil = res[spec.ValidUntil]
	}
	tok, err := f.e.Certifier.Token(f.Case, cert)
	if err != nil {
		return err
	}
	cert.Token = tok
	if err := f.Tx.InsertCertificate(ctx, cert); err != nil {
		return err
	}
	return f.scheduleCertificate(ctx, f.Case, cert)
}

// SetCertificates sets the status of the certificates another case (or
// this one) issued, in this transaction — a residence permit revoked when
// its holder settles, a move-in permit used. Each change is an audit entry.
func (f *Firing) SetCertificates(ctx context.Context, c *portal.Case, status string) error {
	certs, err := f.Tx.CertificatesOf(ctx, c.ID)
	if err != nil {
		return err
	}
	for i := range certs {
		cert := &certs[i]
		if cert.Status == status || cert.Status == portal.CertRevoked || cert.Status == portal.CertUsed {
			continue // revoked and used are for good
		}
		cert.Status, cert.UpdatedAt = status, f.Now
		if err := f.Tx.UpdateCertificate(ctx, cert); err != nil {
			return err
		}
		if err := f.auditCertificate(ctx, c, cert.Number, status, map[string]any{"event": f.Event}); err != nil {
			return err
		}
		if err := f.scheduleCertificate(ctx, c, cert); err != nil {
			return err
		}
	}
	return nil
}

// Certificate returns the certificate the case issued last, for its holder
// and staff who may see the case; ENOTFOUND if it issued none.
func (e *Engine) Certificate(ctx context.Context, actor portal.Actor, no string) (*portal.Certificate, *View, error) {
	v, err := e.Get(ctx, actor, no)
	if err != nil {
		return nil, nil, err
	}
	certs, err := e.Store.CertificatesOf(ctx, v.Case.ID)
	if err != nil {
		return nil, nil, err
	}
	if len(certs) == 0 {
		return nil, nil, portal.NotFound(fmt.Errorf("workflow.Certificate(%s): none issued", no))
	}
	return &certs[0], v, nil
}

// Certificates returns the certificates a case issued, newest first, read
// in the firing's transaction.
func (f *Firing) Certificates(ctx context.Context, c *portal.Case) ([]portal.Certificate, error) {
	return f.Tx.CertificatesOf(ctx, c.ID)
}

// UpdateCertificate writes a certificate changed by this step (an
// endorsement extending it), with an audit entry naming what changed.
func (f *Firing) UpdateCertificate(ctx context.Context, c *portal.Case, cert *portal.Certificate, action string) error {
	cert.UpdatedAt = f.Now
	if err := f.Tx.UpdateCertificate(ctx, cert); err != nil {
		return err
	}
	if err := f.scheduleCertificate(ctx, c, cert); err != nil {
		return err
	}
	return f.auditCertificate(ctx, c, cert.Number, action, map[string]any{"status": cert.Status,
		"valid_until": cert.ValidUntil, "years_since": cert.YearsSince})
}

// auditCertificate records a change of a certificate of case c by this
// step (certificate.<action>), with detail and the cases involved.
func (f *Firing) auditCertificate(ctx context.Context, c *portal.Case, number, action string, detail map[string]any) error {
	ent := audit.Entry(f.Actor, "certificate."+action, "certificate:"+number, audit.ResultOK)
	if f.Role != "" {
		ent.Role = f.Role
	}
	ent.Division = c.Division
	detail["case"], detail["by_case"] = c.No, f.Case.No
	return f.e.Audit.Append(ctx, f.Tx, audit.WithDetail(ent, detail))
}

// Reissue issues a new certificate for another case's grant (a
// replacement on loss): the old ones are revoked, the new one carries
// number and the old one's dates.
func (f *Firing) Reissue(ctx context.Context, c *portal.Case, number string) (*portal.Certificate, error) {
	certs, err := f.Tx.CertificatesOf(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("workflow.Reissue(%s): it issued no certificate", c.No)
	}
	old := certs[0]
	if err := f.SetCertificates(ctx, c, portal.CertRevoked); err != nil {
		return nil, err
	}
	if c.Applicant == nil {
		if c.Applicant, err = f.Tx.UserByID(ctx, c.ApplicantID); err != nil {
			return nil, err
		}
	}
	cert := &portal.Certificate{Number: number, Kind: old.Kind, CaseID: c.ID, CaseNo: c.No, HolderID: c.ApplicantID,
		Status: portal.CertValid, IssuedAt: f.Now, UpdatedAt: f.Now, ValidUntil: old.ValidUntil, YearsSince: old.YearsSince}
	if cert.Token, err = f.e.Certifier.Token(c, cert); err != nil {
		return nil, err
	}
	if err := f.Tx.InsertCertificate(ctx, cert); err != nil {
		return nil, err
	}
	if err := f.scheduleCertificate(ctx, c, cert); err != nil {
		return nil, err
	}
	return cert, f.auditCertificate(ctx, c, number, "reissue", map[string]any{"replaces": old.Number})
}

// Lapse says what a valid certificate of kind becomes after its end date:
// suspended for a permit kept alive by endorsements, else expired.
func (e *Engine) Lapse(kind string) string {
	if c := e.certificateSpec(kind); c != nil && c.Lapse != "" {
		return c.Lapse
	}
	return portal.CertExpired
}

// certificateSpec is the workflow file's description of a certificate kind.
func (e *Engine) certificateSpec(kind string) *CertificateSpec {
	for _, def := range e.Definitions() {
		if c := def.Certificate; c != nil && c.Kind == kind {
			return c
		}
	}
	return nil
}

// CancelCertificate revokes the certificate a granted case issued, for
// staff whose role the workflow file allows (certificate.cancel_by), with a
// reason the holder reads. The case keeps its outcome; its result records
// the cancellation (an amend step in its timeline) and every verification
// answers "revoked" from now on.
func (e *Engine) CancelCertificate(ctx context.Context, actor portal.Actor, no, reason string) error {
	if err := checkCaseNo(no); err != nil {
		return err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 500 || !validate.CleanText(reason) {
		return portal.Invalid(portal.FieldError{Field: "reason", Rule: "required"})
	}
	var denied string
	err := e.Store.Tx(ctx, func(tx portal.Tx) error {
		denied = ""
		c, hist, err := tx.CaseWithHistoryForUpdate(ctx, no)
		if err != nil {
			return err
		}
		if !e.visible(actor, c, hist) {
			denied = "case.read"
			return portal.NotFound(fmt.Errorf("workflow.CancelCertificate(%s): out of reach", no))
		}
		def := e.entry(c.Service).Def
		role, ok := e.Authz.Can(actor.User, c.Division, c.Service, CancelCertificateAction)
		if !ok {
			denied = "certificate.cancel"
			return forbiddenEvent(no, "certificate.cancel")
		}
		if def.Certificate == nil || def.Outcome(c.State) != OutcomeGranted || resultTexts(c.Result)[portal.ResultCancelledBy] != "" {
			return &portal.Error{Code: portal.ECONFLICT, Message: "error.certificate_not_cancellable"}
		}
		f := e.firing(tx, def, c, portal.EventAmend, actor, role, e.Now())
		f.History = hist
		today := f.Now.In(e.Calendar.Zone).Format(time.DateOnly)
		if err := f.Amend(ctx, no, map[string]string{portal.ResultCancelledBy: "staff", portal.ResultCancelledOn: today,
			"cancelled_reason": reason}); err != nil {
			return err
		}
		return f.SetCertificates(ctx, c, portal.CertRevoked)
	})
	if denied != "" {
		e.Denied(ctx, actor, denied, no)
	}
	return err
}

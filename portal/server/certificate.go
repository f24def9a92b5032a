package server

import (
	"errors"
	"html/template"
	"time"

	"github.com/gofiber/fiber/v2"

	"tzportal/portal"
	"tzportal/portal/certificate"
	"tzportal/portal/workflow"
)

// certificateDoc is a certificate as its holder and staff see it.
type certificateDoc struct {
	Kind       string `json:"kind"`
	Number     string `json:"number"`
	Status     string `json:"status"`
	IssuedAt   string `json:"issued_at"`
	ValidUntil string `json:"valid_until"`
	VerifyURL  string `json:"verify_url"`
}

// verifyDoc is all the public verification says: status, kind, number,
// the holder's surname and a masked ID number, the dates.
type verifyDoc struct {
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	Number     string `json:"number"`
	Holder     string `json:"holder"`
	IDNumber   string `json:"id_number"`
	IssuedAt   string `json:"issued_at"`
	ValidUntil string `json:"valid_until"`
}

func (s *Server) today() string { return s.Now().In(s.Zone).Format(time.DateOnly) }

func (s *Server) certificateDoc(cert *portal.Certificate) certificateDoc {
	return certificateDoc{Kind: cert.Kind, Number: cert.Number, Status: cert.Effective(s.today(), s.Engine.Lapse(cert.Kind)),
		IssuedAt: cert.IssuedAt.In(s.Zone).Format(time.DateOnly), ValidUntil: cert.ValidUntil,
		VerifyURL: s.PublicURL + "/verify/" + cert.Token}
}

func (s *Server) apiCertificate(c *fiber.Ctx) error {
	cert, _, err := s.Engine.Certificate(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	return c.JSON(s.certificateDoc(cert))
}

// certificateData is the printable certificate page.
type certificateData struct {
	CaseNo      string
	ServiceName string
	Holder      string
	Cert        certificateDoc
	QR          template.HTML
	YearsSince  string
	// CanCancel: the viewer is staff who may revoke it.
	CanCancel bool
}

func (s *Server) certificatePage(c *fiber.Ctx) error {
	cert, v, err := s.Engine.Certificate(ctx(c), actor(c), c.Params("no"))
	if err != nil {
		return err
	}
	doc := s.certificateDoc(cert)
	qr, err := certificate.QRSVG(doc.VerifyURL, 240)
	if err != nil {
		return err
	}
	l := loc(c)
	d := &certificateData{CaseNo: v.Case.No, ServiceName: l.T(v.Case.Service + ".name"), Cert: doc, QR: qr,
		YearsSince: cert.YearsSince}
	if v.Case.Applicant != nil {
		d.Holder = v.Case.Applicant.Name
	}
	if u := currentUser(c); u.Kind == portal.KindStaff && doc.Status != portal.CertRevoked && doc.Status != portal.CertUsed {
		_, d.CanCancel = s.Authz.Can(u, v.Case.Division, v.Case.Service, workflow.CancelCertificateAction)
	}
	p := s.newPage(c, "certificate.title."+cert.Kind, d)
	return s.render(c, "certificate", p)
}

// verify checks a token: its signature first (a forged or foreign token is
// 404 without touching the database), then the certificate's status now.
// Each address gets a number of checks a minute; each check is counted,
// with nothing about who checked.
func (s *Server) verify(c *fiber.Ctx) (*verifyDoc, error) {
	if s.Counter != nil {
		n, err := s.Counter.Incr(ctx(c), "verify-ip:"+c.IP(), time.Minute)
		if err != nil {
			return nil, portal.Unavailable("sessions", err)
		}
		if n > int64(s.VerifyPerMinute) {
			return nil, portal.Errorf(portal.ETOOMANY, "error.too_many_verifications", nil)
		}
	}
	claims, err := s.Signer.Verify(c.Params("token"))
	if err != nil {
		return nil, portal.NotFound(err)
	}
	cert, err := s.Store.CertificateByNumber(ctx(c), claims.Number)
	if err != nil {
		return nil, err
	}
	if cert.Token != c.Params("token") {
		return nil, portal.NotFound(errors.New("server.verify: a signed token that is not the certificate's"))
	}
	if err := s.Store.Tx(ctx(c), func(tx portal.Tx) error { return tx.CountVerification(ctx(c), cert.Number) }); err != nil {
		s.Logger.Warn("verify: not counted", "err", err)
	}
	return &verifyDoc{Status: cert.Effective(s.today(), s.Engine.Lapse(cert.Kind)), Kind: cert.Kind, Number: cert.Number, Holder: claims.Holder,
		IDNumber: claims.IDNumber, IssuedAt: claims.IssuedAt, ValidUntil: cert.ValidUntil}, nil
}

func (s *Server) apiVerify(c *fiber.Ctx) error {
	d, err := s.verify(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(d)
}

func (s *Server) verifyPage(c *fiber.Ctx) error {
	d, err := s.verify(c)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set("Referrer-Policy", "no-referrer") // the token stays out of other sites' logs
	c.Set("X-Robots-Tag", "noindex")
	return s.render(c, "verify", s.newPage(c, "verify.title", d))
}

func (s *Server) apiVerifyKey(c *fiber.Ctx) error {
	return c.JSON(s.Signer.KeyDocument())
}

// cancelBody is POST /api/v1/cases/{case_no}/certificate/cancel.
type cancelBody struct {
	Reason string `json:"reason"`
}

func (s *Server) apiCancelCertificate(c *fiber.Ctx) error {
	var body cancelBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if err := s.Engine.CancelCertificate(ctx(c), actor(c), c.Params("no"), body.Reason); err != nil {
		return err
	}
	return s.apiCertificate(c)
}

// cancelCertificate is the staff's form on the certificate page.
func (s *Server) cancelCertificate(c *fiber.Ctx) error {
	if err := s.Engine.CancelCertificate(ctx(c), actor(c), c.Params("no"), c.FormValue("reason")); err != nil {
		return err
	}
	return redirect(c, "/cases/"+c.Params("no")+"/certificate")
}

package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"tzportal/portal"
)

const certificateColumns = `t.number, t.kind, t.case_id, c.case_no, t.holder_id, t.status, t.issued_at, t.valid_until,
	t.years_since, t.token, t.verified, t.updated_at`

func scanCertificate(row interface{ Scan(...any) error }) (portal.Certificate, error) {
	var c portal.Certificate
	err := row.Scan(&c.Number, &c.Kind, &c.CaseID, &c.CaseNo, &c.HolderID, &c.Status, scanTime{&c.IssuedAt}, &c.ValidUntil,
		&c.YearsSince, &c.Token, &c.Verified, scanTime{&c.UpdatedAt})
	return c, err
}

// CertificateByNumber returns a certificate; ENOTFOUND if none has number.
func (q q) CertificateByNumber(ctx context.Context, number string) (*portal.Certificate, error) {
	c, err := scanCertificate(q.ex.QueryRowContext(ctx, `SELECT `+certificateColumns+`
		FROM certificates t JOIN cases c ON c.id = t.case_id WHERE t.number = $1`, number))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, portal.NotFound(fmt.Errorf("sqlstore.CertificateByNumber(%s): none", number))
	}
	if err != nil {
		return nil, dbError("sqlstore.CertificateByNumber", err)
	}
	return &c, nil
}

// CertificatesOf returns the certificates a case issued, newest first.
func (q q) CertificatesOf(ctx context.Context, caseID int64) ([]portal.Certificate, error) {
	rows, err := q.ex.QueryContext(ctx, `SELECT `+certificateColumns+`
		FROM certificates t JOIN cases c ON c.id = t.case_id WHERE t.case_id = $1 ORDER BY t.issued_at DESC, t.number DESC`, caseID)
	if err != nil {
		return nil, dbError("sqlstore.CertificatesOf", err)
	}
	defer rows.Close()
	var out []portal.Certificate
	for rows.Next() {
		c, err := scanCertificate(rows)
		if err != nil {
			return nil, dbError("sqlstore.CertificatesOf", err)
		}
		out = append(out, c)
	}
	return out, dbError("sqlstore.CertificatesOf", rows.Err())
}

// InsertCertificate records an issued certificate.
func (t *Tx) InsertCertificate(ctx context.Context, c *portal.Certificate) error {
	_, err := t.ex.ExecContext(ctx, `INSERT INTO certificates (number, kind, case_id, holder_id, status, issued_at,
		valid_until, years_since, token, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		c.Number, c.Kind, c.CaseID, c.HolderID, c.Status, t.d.time(c.IssuedAt), c.ValidUntil, c.YearsSince, c.Token,
		t.d.time(c.UpdatedAt))
	return dbError("sqlstore.InsertCertificate", err)
}

// UpdateCertificate writes a certificate's status and dates.
func (t *Tx) UpdateCertificate(ctx context.Context, c *portal.Certificate) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE certificates SET status = $1, valid_until = $2, years_since = $3, updated_at = $4
		WHERE number = $5`, c.Status, c.ValidUntil, c.YearsSince, t.d.time(c.UpdatedAt), c.Number)
	return dbError("sqlstore.UpdateCertificate", err)
}

// CountVerification counts one verification of a certificate.
func (t *Tx) CountVerification(ctx context.Context, number string) error {
	_, err := t.ex.ExecContext(ctx, `UPDATE certificates SET verified = verified + 1 WHERE number = $1`, number)
	return dbError("sqlstore.CountVerification", err)
}

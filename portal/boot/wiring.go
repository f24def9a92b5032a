package boot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"tzportal/portal"
	"tzportal/portal/certificate"
	"tzportal/portal/config"
	"tzportal/portal/materials"
	"tzportal/portal/notify"
	"tzportal/portal/outbox"
	"tzportal/portal/pii"
	"tzportal/portal/workflow"
)

// dbFiles keeps materials' bytes in the database, in the transaction that
// inserts their row: several nodes need no shared disk.
type dbFiles struct{}

func (dbFiles) Name() string                                { return "db" }
func (dbFiles) Stage(context.Context, string, []byte) error { return nil }
func (dbFiles) Store(ctx context.Context, tx portal.Tx, id string, data []byte) error {
	return tx.PutMaterialBlob(ctx, id, data)
}
func (dbFiles) Get(ctx context.Context, r portal.Reader, id string) ([]byte, error) {
	return r.MaterialBlob(ctx, id)
}
func (dbFiles) Remove(context.Context, string) error { return nil } // deleted with the row

// dirFiles keeps materials' bytes in a directory (the embedded default):
// written and fsynced before the row commits.
type dirFiles struct{ dir materials.Dir }

func (dirFiles) Name() string { return "dir" }
func (d dirFiles) Stage(ctx context.Context, id string, data []byte) error {
	return d.dir.Put(ctx, id, data)
}
func (dirFiles) Store(context.Context, portal.Tx, string, []byte) error { return nil }
func (d dirFiles) Get(ctx context.Context, _ portal.Reader, id string) ([]byte, error) {
	b, err := d.dir.Get(ctx, id)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, portal.NotFound(err)
	}
	return b, err
}
func (d dirFiles) Remove(ctx context.Context, id string) error { return d.dir.Delete(ctx, id) }

// Files returns the materials store the configuration chooses.
func Files(cfg *config.Config) portal.Files {
	if cfg.Files == "db" {
		return dbFiles{}
	}
	return dirFiles{materials.Dir{Root: filepath.Join(cfg.DataDir, "materials")}}
}

// certifier signs certificates with the holder's name and ID number masked.
type certifier struct {
	signer *certificate.Signer
	sealer *pii.Sealer
	zone   *time.Location
}

func (c certifier) Token(cs *portal.Case, cert *portal.Certificate) (string, error) {
	app := cs.Applicant
	if app == nil {
		return "", fmt.Errorf("boot: certificate %s: the case was read without its applicant", cert.Number)
	}
	id, err := c.sealer.Open(app.IDCipher, app.IDIndex)
	if err != nil {
		return "", fmt.Errorf("boot: certificate %s: %w", cert.Number, err)
	}
	return c.signer.Sign(certificate.Claims{Kind: cert.Kind, Number: cert.Number, Holder: certificate.MaskHolder(app.Name),
		IDNumber: certificate.MaskID(id), IssuedAt: cert.IssuedAt.In(c.zone).Format(time.DateOnly)})
}

var _ workflow.Certifier = certifier{}

// senders returns the delivery channels the configuration gives: SMS
// through the gateway (or the log), email when an SMTP server is set.
func senders(cfg *config.Config, log *slog.Logger) (map[string]notify.Sender, error) {
	out := map[string]notify.Sender{outbox.ChannelSMS: notify.LogSender{Log: log, Channel: outbox.ChannelSMS}}
	if cfg.SMSURL != "" {
		out[outbox.ChannelSMS] = notify.NewHTTPGateway(cfg.SMSURL, nil)
	}
	if cfg.SMTPURL != "" {
		s, err := notify.NewSMTP(cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("PORTAL_SMTP_URL: %w", err)
		}
		out[outbox.ChannelEmail] = s
	}
	return out, nil
}

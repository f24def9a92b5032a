package account

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"tzportal/portal"
	"tzportal/portal/audit"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app reads.
const (
	totpPeriod = 30 // seconds
	totpSkew   = 1  // steps either side accepted, for phone clocks a little off
	totpIssuer = "Taizhou Portal"
)

func totpOpts() totp.ValidateOpts {
	return totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}
}

// Enrollment is a new TOTP secret to show once: as text, as an otpauth://
// URI and as a QR code (a data: URI of a PNG, allowed by the page's CSP).
type Enrollment struct {
	Secret string
	URI    string
	QR     string
}

// newEnrollment makes a fresh secret for login.
func newEnrollment(login string) (*Enrollment, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: totpIssuer, AccountName: login, Period: totpPeriod})
	if err != nil {
		return nil, fmt.Errorf("account: TOTP secret: %w", err)
	}
	return enrollment(key)
}

// enrollmentOf rebuilds the enrollment of an existing secret.
func enrollmentOf(login, secret string) (*Enrollment, error) {
	key, err := otp.NewKeyFromURL(fmt.Sprintf("otpauth://totp/%s:%s?secret=%s&issuer=%s&period=%d",
		url.PathEscape(totpIssuer), url.PathEscape(login), secret, url.QueryEscape(totpIssuer), totpPeriod))
	if err != nil {
		return nil, fmt.Errorf("account: TOTP secret: %w", err)
	}
	return enrollment(key)
}

func enrollment(key *otp.Key) (*Enrollment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("account: TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("account: TOTP QR code: %w", err)
	}
	return &Enrollment{Secret: key.Secret(), URI: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// sealSecret encrypts a TOTP secret (AES-256-GCM): a database dump must not
// give anyone the second factor.
func (a *Accounts) sealSecret(secret string) ([]byte, error) {
	block, err := aes.NewCipher(a.TOTPKey)
	if err != nil {
		return nil, err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, []byte(secret), []byte("totp")), nil
}

func (a *Accounts) openSecret(sealed []byte) (string, error) {
	block, err := aes.NewCipher(a.TOTPKey)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	if len(sealed) < gcm.NonceSize() {
		return "", errors.New("account: TOTP secret: too short")
	}
	plain, err := gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], []byte("totp"))
	if err != nil {
		return "", fmt.Errorf("account: TOTP secret: %w", err)
	}
	return string(plain), nil
}

// needsTOTP reports whether u must give a one-time code to log in.
func (a *Accounts) needsTOTP(u *portal.User) bool {
	return a.StaffMFA && u.Kind == portal.KindStaff
}

// matchStep returns the time step whose code equals code, within the skew,
// or 0.
func matchStep(secret, code string, now time.Time) int64 {
	if len(code) != 6 {
		return 0
	}
	step := now.Unix() / totpPeriod
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*totpPeriod, 0), totpOpts())
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s
		}
	}
	return 0
}

// BeginTOTPSetup gives a staff member without a confirmed secret one to set
// up, stored unconfirmed until the first code from it is accepted. A secret
// already pending is shown again rather than replaced: the person may have
// scanned it and only mistyped the code.
func (a *Accounts) BeginTOTPSetup(ctx context.Context, u *portal.User) (*Enrollment, error) {
	if u.TOTPConfirmedAt != nil {
		return nil, errors.New("account.BeginTOTPSetup: already set up")
	}
	if len(u.TOTPSecret) > 0 {
		if secret, err := a.openSecret(u.TOTPSecret); err == nil {
			return enrollmentOf(u.Login, secret)
		}
	}
	en, err := newEnrollment(u.Login)
	if err != nil {
		return nil, err
	}
	sealed, err := a.sealSecret(en.Secret)
	if err != nil {
		return nil, err
	}
	u.TOTPSecret = sealed
	err = a.Store.Tx(ctx, func(tx portal.Tx) error { return tx.UpdateUser(ctx, u) })
	return en, err
}

// VerifyTOTP completes a staff login whose password was right (the second
// step of the login form): it accepts a code of the user's secret once (a
// confirmed one, or the one being set up, which it confirms). A wrong or
// replayed code counts as a failed login and answers error.otp_failed; the
// user is returned with it (the form is shown again for them).
func (a *Accounts) VerifyTOTP(ctx context.Context, actor portal.Actor, userID int64, code string) (*portal.User, error) {
	u, err := a.Store.UserByID(ctx, userID)
	if err != nil {
		return nil, err
	}
	if n, err := a.Failures.Get(ctx, failureKey(u)); err != nil {
		return nil, err
	} else if n >= int64(a.Policy.Lockout.Failures) {
		return u, a.failed(ctx, actor, u, "locked", u.Login, errOTP())
	}
	if u.DisabledAt != nil {
		return u, a.failed(ctx, actor, u, "disabled", u.Login, errOTP())
	}
	return a.verifyTOTP(ctx, actor, u, code)
}

// verifyTOTP checks the code of u, whose password was right and who is
// neither locked nor disabled.
func (a *Accounts) verifyTOTP(ctx context.Context, actor portal.Actor, u *portal.User, code string) (*portal.User, error) {
	if len(u.TOTPSecret) == 0 {
		return u, a.failed(ctx, actor, u, "no_totp", u.Login, errOTP())
	}
	secret, err := a.openSecret(u.TOTPSecret)
	if err != nil {
		return nil, err
	}
	step := matchStep(secret, code, a.Now())
	accepted := false
	if step > 0 {
		err = a.Store.Tx(ctx, func(tx portal.Tx) error {
			ok, err := tx.UseTOTPStep(ctx, u.ID, step)
			if err != nil || !ok {
				return err
			}
			accepted = true
			if u.TOTPConfirmedAt == nil {
				now := a.Now()
				u.TOTPConfirmedAt = &now
				if err := tx.UpdateUser(ctx, u); err != nil {
					return err
				}
				return a.Audit.Append(ctx, tx, audit.Entry(portal.Actor{User: u, IP: actor.IP}, "totp.setup", userObject(u), audit.ResultOK))
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if !accepted {
		reason := "wrong_totp"
		if step > 0 {
			reason = "reused_totp"
		}
		if _, err := a.Failures.Incr(ctx, failureKey(u), a.Policy.LockWindow()); err != nil {
			return nil, err
		}
		return u, a.failed(ctx, actor, u, reason, u.Login, errOTP())
	}
	return a.loggedIn(ctx, actor, u)
}

// Package config reads the portal's configuration from the environment and
// checks it, with messages that say how to fix what is wrong.
package config

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Config is the portal's configuration. It is passed around, never global.
type Config struct {
	Addr        string // PORTAL_ADDR, default :8080
	DatabaseURL string // normalized: sqlite:PATH or postgres://…
	RedisURL    string // "" → in-process sessions
	Secret      []byte // 32 bytes from PORTAL_SECRET
	DataDir     string // ./data: the default SQLite file and the demo secret

	// CookieSecure marks cookies Secure (and names the session cookie with the
	// __Host- prefix). PORTAL_COOKIE_SECURE=off is for plain-http local use
	// only; serve --demo defaults to off.
	CookieSecure bool
	// TrustedProxies are the addresses whose X-Forwarded-For is believed.
	TrustedProxies []string
	// DBPool is the database pool size (PORTAL_DB_POOL; 0: the store's
	// default, twice the cores for PostgreSQL).
	DBPool int

	// StaffMFA requires staff to log in with a one-time code (TOTP) as well
	// as the password. PORTAL_STAFF_MFA=off is for the demo and local
	// development only; serve --demo defaults to off.
	StaffMFA bool

	Demo bool // serve --demo: seed demo accounts, create a secret if needed

	// SecretCreated is set when --demo wrote a new ./data/secret.
	SecretCreated bool

	// PublicURL is where people reach the portal (PORTAL_PUBLIC_URL, no
	// trailing slash): certificates' QR codes point at PublicURL/verify/….
	PublicURL string
	// Files is where materials' bytes are kept (PORTAL_FILES): "dir"
	// (DataDir/materials, the default) or "db" (the database: several
	// nodes need no shared disk).
	Files string
	// SMSURL is the SMS gateway (PORTAL_SMS_URL, JSON POST); "" logs SMS
	// texts' metadata instead of sending them.
	SMSURL string
	// SMTPURL is the mail server (PORTAL_SMTP_URL,
	// smtp://user:pass@host:587?from=addr or smtps://…); "" sends no email.
	SMTPURL string
	// CertKey is the Ed25519 seed certificates are signed with
	// (PORTAL_CERT_KEY, base64 of 32 bytes); nil derives it from the secret.
	CertKey []byte

	// PgBouncer says DATABASE_URL reaches PostgreSQL through PgBouncer in
	// transaction mode (PORTAL_PGBOUNCER=on): no named prepared
	// statements, no startup parameters PgBouncer refuses, and no
	// migrations (their lock is a session's).
	PgBouncer bool
	// MetricsAddr is where Prometheus metrics are served on their own
	// listener (PORTAL_METRICS_ADDR); MetricsToken, when set, is the
	// bearer token a scrape must carry (PORTAL_METRICS_TOKEN). With only a
	// token they are served at /metrics of PORTAL_ADDR; with neither,
	// not at all.
	MetricsAddr  string
	MetricsToken string
	// LogLevel is the least level logged (PORTAL_LOG_LEVEL: debug, info,
	// warn, error; default info).
	LogLevel slog.Level
}

// SecretHelp says how to make a secret.
const SecretHelp = `PORTAL_SECRET is not set. It must be the base64 of 32 random bytes, for example:
    export PORTAL_SECRET=$(head -c 32 /dev/urandom | base64)
Keep it safe: it encrypts ID numbers and seals the audit trail; a lost secret makes them unreadable.
(For a local demo, "portal serve --demo" makes one in ./data/secret.)`

// Needs says what a command needs from the environment.
type Needs struct {
	Secret bool // the command encrypts, seals or verifies
	Demo   bool // serve --demo: may create ./data/secret
}

// FromEnv reads the configuration from getenv.
func FromEnv(getenv func(string) string, n Needs) (*Config, error) {
	c := &Config{Addr: getenv("PORTAL_ADDR"), DataDir: "data", Demo: n.Demo}
	if c.Addr == "" {
		c.Addr = ":8080"
	}
	if d := getenv("PORTAL_DATA_DIR"); d != "" {
		c.DataDir = d
	}
	var errs []error
	if _, err := netip.ParseAddrPort(normalizeAddr(c.Addr)); err != nil {
		errs = append(errs, fmt.Errorf("PORTAL_ADDR=%q: want host:port or :port, e.g. :8080", c.Addr))
	}

	switch db := getenv("DATABASE_URL"); {
	case db == "":
		c.DatabaseURL = "sqlite:" + filepath.Join(c.DataDir, "portal.db")
	case strings.HasPrefix(db, "sqlite:") && len(db) > len("sqlite:"):
		c.DatabaseURL = db
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		c.DatabaseURL = db
	default:
		errs = append(errs, errors.New("DATABASE_URL: want sqlite:PATH (e.g. sqlite:./data/portal.db) or postgres://user@host:5432/db"))
	}

	switch r := getenv("REDIS_URL"); {
	case r == "":
	case strings.HasPrefix(r, "redis://"), strings.HasPrefix(r, "rediss://"):
		c.RedisURL = r
	case strings.HasPrefix(r, "redis+sentinel://"), strings.HasPrefix(r, "rediss+sentinel://"):
		if u, err := url.Parse(r); err != nil || u.Query().Get("master_name") == "" {
			errs = append(errs, errors.New("REDIS_URL: a Sentinel URL names the primary and the sentinels: "+
				"redis+sentinel://sentinel1:26379/0?master_name=mymaster&addr=sentinel2:26379&addr=sentinel3:26379"))
		}
		c.RedisURL = r
	default:
		errs = append(errs, errors.New("REDIS_URL: want redis://host:6379/0, or redis+sentinel://sentinel1:26379/0?master_name=NAME&addr=sentinel2:26379 "+
			"(or unset for in-process sessions)"))
	}

	// on or off; unset: off for the demo (plain http://localhost, no
	// authenticator app), on otherwise (production sits behind TLS).
	onOff := func(name string) bool {
		switch v := strings.ToLower(getenv(name)); v {
		case "":
			return !n.Demo
		case "on", "true", "1":
			return true
		case "off", "false", "0":
			return false
		default:
			errs = append(errs, fmt.Errorf("%s=%q: want on or off", name, v))
			return true
		}
	}
	c.CookieSecure = onOff("PORTAL_COOKIE_SECURE")
	c.StaffMFA = onOff("PORTAL_STAFF_MFA")
	if getenv("PORTAL_PGBOUNCER") != "" {
		c.PgBouncer = onOff("PORTAL_PGBOUNCER")
		if c.PgBouncer && !strings.HasPrefix(c.DatabaseURL, "postgres") {
			errs = append(errs, errors.New("PORTAL_PGBOUNCER=on: DATABASE_URL must be the PgBouncer's postgres:// address"))
		}
	}
	if c.MetricsAddr = getenv("PORTAL_METRICS_ADDR"); c.MetricsAddr != "" {
		if _, err := netip.ParseAddrPort(normalizeAddr(c.MetricsAddr)); err != nil {
			errs = append(errs, fmt.Errorf("PORTAL_METRICS_ADDR=%q: want host:port, e.g. 127.0.0.1:9090 (never a public address)", c.MetricsAddr))
		}
	}
	if c.MetricsToken = getenv("PORTAL_METRICS_TOKEN"); c.MetricsToken != "" && len(c.MetricsToken) < 32 {
		errs = append(errs, errors.New("PORTAL_METRICS_TOKEN: want at least 32 random characters, e.g. $(head -c 24 /dev/urandom | base64)"))
	}
	if lv, err := LogLevel(getenv); err != nil {
		errs = append(errs, err)
	} else {
		c.LogLevel = lv
	}
	if v := getenv("PORTAL_DB_POOL"); v != "" {
		pool, err := strconv.Atoi(v)
		if err != nil || pool < 1 || pool > 1000 {
			errs = append(errs, fmt.Errorf("PORTAL_DB_POOL=%q: want a number of connections, 1–1000", v))
		}
		c.DBPool = pool
	}
	if v := getenv("PORTAL_TRUSTED_PROXIES"); v != "" {
		for _, p := range strings.Split(v, ",") {
			p = strings.TrimSpace(p)
			if _, err := netip.ParsePrefix(p); err != nil {
				if _, err := netip.ParseAddr(p); err != nil {
					errs = append(errs, fmt.Errorf("PORTAL_TRUSTED_PROXIES: %q is not an address or CIDR prefix", p))
					continue
				}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}

	c.PublicURL = strings.TrimRight(getenv("PORTAL_PUBLIC_URL"), "/")
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost"
		if i := strings.LastIndex(c.Addr, ":"); i >= 0 {
			c.PublicURL += c.Addr[i:] // a bad PORTAL_ADDR is reported above
		}
	} else if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("PORTAL_PUBLIC_URL=%q: want the portal's address as people reach it, e.g. https://portal.taizhou.gov.cn", c.PublicURL))
	}
	switch c.Files = getenv("PORTAL_FILES"); c.Files {
	case "":
		c.Files = "dir"
	case "dir", "db":
	default:
		errs = append(errs, fmt.Errorf("PORTAL_FILES=%q: want dir (files under PORTAL_DATA_DIR/materials) or db (in the database)", c.Files))
	}
	c.SMSURL = getenv("PORTAL_SMS_URL")
	if c.SMSURL != "" {
		if u, err := url.Parse(c.SMSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, errors.New("PORTAL_SMS_URL: want the gateway's http(s) URL"))
		}
	}
	c.SMTPURL = getenv("PORTAL_SMTP_URL")
	if v := getenv("PORTAL_CERT_KEY"); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != 32 {
			errs = append(errs, errors.New("PORTAL_CERT_KEY: want the base64 of a 32-byte Ed25519 seed (head -c 32 /dev/urandom | base64)"))
		}
		c.CertKey = k
	}

	if n.Secret {
		secret, err := c.loadSecret(getenv("PORTAL_SECRET"), n.Demo)
		if err != nil {
			errs = append(errs, err)
		}
		c.Secret = secret
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// LogLevel reads PORTAL_LOG_LEVEL: debug, info (the default), warn or error.
func LogLevel(getenv func(string) string) (slog.Level, error) {
	switch v := strings.ToLower(getenv("PORTAL_LOG_LEVEL")); v {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return slog.LevelInfo, fmt.Errorf("PORTAL_LOG_LEVEL=%q: want debug, info, warn or error", v)
	}
}

func normalizeAddr(a string) string {
	if strings.HasPrefix(a, ":") {
		return "0.0.0.0" + a
	}
	if strings.HasPrefix(a, "localhost:") {
		return "127.0.0.1" + strings.TrimPrefix(a, "localhost")
	}
	return a
}

// loadSecret decodes PORTAL_SECRET; in demo mode without it, it reads or
// creates DataDir/secret.
func (c *Config) loadSecret(env string, demo bool) ([]byte, error) {
	if env != "" {
		return decodeSecret(env, "PORTAL_SECRET")
	}
	if !demo {
		return nil, errors.New(SecretHelp)
	}
	path := filepath.Join(c.DataDir, "secret")
	if b, err := os.ReadFile(path); err == nil {
		return decodeSecret(strings.TrimSpace(string(b)), path)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("config: making a secret: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// O_EXCL: two demo processes starting at once must not make two secrets.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if b, rerr := os.ReadFile(path); rerr == nil {
			return decodeSecret(strings.TrimSpace(string(b)), path)
		}
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		return nil, fmt.Errorf("config: writing %s: %w", path, err)
	}
	c.SecretCreated = true
	return raw, nil
}

func decodeSecret(s, source string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawStdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("%s: must be the base64 of exactly 32 random bytes\n%s", source, SecretHelp)
	}
	return b, nil
}

// Key derives the 32-byte key for one purpose from the secret (HKDF-SHA256),
// so that no two uses share a key.
func (c *Config) Key(purpose string) []byte {
	k, err := hkdf.Key(sha256.New, c.Secret, nil, "tzportal/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce; 32 always works
	}
	return k
}

// Key purposes.
const (
	KeyIDEncryption = "id-number-encryption"
	KeyIDIndex      = "id-number-index"
	KeyCSRF         = "csrf"
	KeyAudit        = "audit-chain"
	KeyTOTP         = "totp-secret-encryption"
	KeyLoginTicket  = "login-ticket"
)

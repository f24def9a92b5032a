package config_test

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal/config"
)

// env returns a getenv over the pairs k, v, ….
func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

// secretOf returns a PORTAL_SECRET value encoding n bytes.
func secretOf(n int) string {
	return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, n))
}

const howTo = "head -c 32 /dev/urandom | base64"

// TestFromEnvKeepsValues: addresses and URLs in accepted forms are kept as given.
func TestFromEnvKeepsValues(t *testing.T) {
	for _, tt := range []struct {
		name, key, value string
		get              func(c *config.Config) string
	}{
		{"addr", "PORTAL_ADDR", "127.0.0.1:9000", func(c *config.Config) string { return c.Addr }},
		{"addr localhost", "PORTAL_ADDR", "localhost:9000", func(c *config.Config) string { return c.Addr }},
		{"sqlite url", "DATABASE_URL", "sqlite:/var/lib/portal/p.db", func(c *config.Config) string { return c.DatabaseURL }},
		{"postgres url", "DATABASE_URL", "postgres://portal@db:5432/portal?sslmode=disable", func(c *config.Config) string { return c.DatabaseURL }},
		{"postgresql url", "DATABASE_URL", "postgresql://portal@db/portal", func(c *config.Config) string { return c.DatabaseURL }},
		{"redis", "REDIS_URL", "redis://127.0.0.1:6379/0", func(c *config.Config) string { return c.RedisURL }},
		{"rediss", "REDIS_URL", "rediss://cache:6380/1", func(c *config.Config) string { return c.RedisURL }},
		{"sentinel", "REDIS_URL", "redis+sentinel://s1:26379/0?master_name=tz&addr=s2:26379&addr=s3:26379", func(c *config.Config) string { return c.RedisURL }},
		{"metrics addr", "PORTAL_METRICS_ADDR", "127.0.0.1:9090", func(c *config.Config) string { return c.MetricsAddr }},
		{"metrics token", "PORTAL_METRICS_TOKEN", "0123456789abcdef0123456789abcdef", func(c *config.Config) string { return c.MetricsToken }},
		{"log level", "PORTAL_LOG_LEVEL", "WARN", func(c *config.Config) string { return c.LogLevel.String() }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.FromEnv(env(tt.key, tt.value), config.Needs{})
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(c); got != tt.value {
				t.Errorf("%s=%q gives %q", tt.key, tt.value, got)
			}
		})
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name  string
		env   func(string) string
		needs config.Needs
		check func(t *testing.T, c *config.Config)
	}{
		{"defaults", env(), config.Needs{}, func(t *testing.T, c *config.Config) {
			want := config.Config{Addr: ":8080", DatabaseURL: "sqlite:" + filepath.Join("data", "portal.db"), DataDir: "data", CookieSecure: true, StaffMFA: true,
				PublicURL: "http://localhost:8080", Files: "dir"}
			if diff := cmp.Diff(&want, c); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
			if c.DatabaseURL != "sqlite:data/portal.db" {
				t.Errorf("DatabaseURL = %q, want sqlite:data/portal.db", c.DatabaseURL)
			}
		}},
		{"staff two-factor login is on unless turned off", env(), config.Needs{}, func(t *testing.T, c *config.Config) {
			if !c.StaffMFA {
				t.Error("StaffMFA is off by default")
			}
		}},
		{"the demo turns two-factor login off", env("PORTAL_DATA_DIR", t.TempDir()), config.Needs{Secret: true, Demo: true}, func(t *testing.T, c *config.Config) {
			if c.StaffMFA {
				t.Error("StaffMFA is on in the demo")
			}
		}},
		{"PORTAL_STAFF_MFA=off", env("PORTAL_STAFF_MFA", "off"), config.Needs{}, func(t *testing.T, c *config.Config) {
			if c.StaffMFA {
				t.Error("StaffMFA is on")
			}
		}},
		{"data dir", env("PORTAL_DATA_DIR", "/srv/portal"), config.Needs{}, func(t *testing.T, c *config.Config) {
			if c.DatabaseURL != "sqlite:/srv/portal/portal.db" || c.DataDir != "/srv/portal" {
				t.Errorf("DatabaseURL, DataDir = %q, %q; want sqlite:/srv/portal/portal.db, /srv/portal", c.DatabaseURL, c.DataDir)
			}
		}},
		{"secret std base64", env("PORTAL_SECRET", secretOf(32)), config.Needs{Secret: true}, func(t *testing.T, c *config.Config) {
			if !bytes.Equal(c.Secret, bytes.Repeat([]byte{7}, 32)) || c.SecretCreated {
				t.Errorf("Secret = %x, SecretCreated = %v", c.Secret, c.SecretCreated)
			}
		}},
		{"secret raw base64", env("PORTAL_SECRET", strings.TrimRight(secretOf(32), "=")), config.Needs{Secret: true}, func(t *testing.T, c *config.Config) {
			if !bytes.Equal(c.Secret, bytes.Repeat([]byte{7}, 32)) {
				t.Errorf("Secret = %x", c.Secret)
			}
		}},
		{"secret not needed", env(), config.Needs{}, func(t *testing.T, c *config.Config) {
			if c.Secret != nil {
				t.Errorf("Secret = %x, want none", c.Secret)
			}
		}},
		{"demo flag", env("PORTAL_SECRET", secretOf(32)), config.Needs{Secret: true, Demo: true}, func(t *testing.T, c *config.Config) {
			if !c.Demo || c.SecretCreated {
				t.Errorf("Demo, SecretCreated = %v, %v; want true, false (the env secret wins)", c.Demo, c.SecretCreated)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.FromEnv(tt.env, tt.needs)
			if err != nil {
				t.Fatalf("FromEnv: %v", err)
			}
			tt.check(t, c)
		})
	}
}

func TestFromEnvRefuses(t *testing.T) {
	tests := []struct {
		name  string
		env   func(string) string
		needs config.Needs
		want  []string // substrings of the error
	}{
		{"mysql", env("DATABASE_URL", "mysql://root@db/portal"), config.Needs{}, []string{"DATABASE_URL", "sqlite:PATH", "postgres://"}},
		{"sqlite without a path", env("DATABASE_URL", "sqlite:"), config.Needs{}, []string{"DATABASE_URL"}},
		{"bare path", env("DATABASE_URL", "/data/portal.db"), config.Needs{}, []string{"DATABASE_URL"}},
		{"redis over http", env("REDIS_URL", "http://x"), config.Needs{}, []string{"REDIS_URL", "redis://"}},
		{"addr without a colon", env("PORTAL_ADDR", "8080"), config.Needs{}, []string{"PORTAL_ADDR", "8080"}},
		{"sentinel without the primary's name", env("REDIS_URL", "redis+sentinel://s1:26379/0"), config.Needs{}, []string{"REDIS_URL", "master_name"}},
		{"pgbouncer with sqlite", env("PORTAL_PGBOUNCER", "on"), config.Needs{}, []string{"PORTAL_PGBOUNCER", "postgres://"}},
		{"metrics addr", env("PORTAL_METRICS_ADDR", "9090"), config.Needs{}, []string{"PORTAL_METRICS_ADDR"}},
		{"metrics token too short", env("PORTAL_METRICS_TOKEN", "secret"), config.Needs{}, []string{"PORTAL_METRICS_TOKEN", "32"}},
		{"log level", env("PORTAL_LOG_LEVEL", "loud"), config.Needs{}, []string{"PORTAL_LOG_LEVEL", "loud"}},
		{"secret missing", env(), config.Needs{Secret: true}, []string{"PORTAL_SECRET", howTo}},
		{"secret not base64", env("PORTAL_SECRET", "not base64 at all!"), config.Needs{Secret: true}, []string{"PORTAL_SECRET", "32", howTo}},
		{"secret too short", env("PORTAL_SECRET", secretOf(16)), config.Needs{Secret: true}, []string{"PORTAL_SECRET", "32"}},
		{"secret too long", env("PORTAL_SECRET", secretOf(33)), config.Needs{Secret: true}, []string{"PORTAL_SECRET", "32"}},
		{"cookie secure", env("PORTAL_COOKIE_SECURE", "maybe"), config.Needs{}, []string{"PORTAL_COOKIE_SECURE", "maybe"}},
		{"trusted proxies", env("PORTAL_TRUSTED_PROXIES", "10.0.0.0/8, proxy.local"), config.Needs{}, []string{"PORTAL_TRUSTED_PROXIES", "proxy.local"}},
		{"trusted proxies bad prefix", env("PORTAL_TRUSTED_PROXIES", "10.0.0.0/33"), config.Needs{}, []string{"PORTAL_TRUSTED_PROXIES", "10.0.0.0/33"}},
		{"every mistake at once", env("DATABASE_URL", "mysql://x", "REDIS_URL", "http://x", "PORTAL_COOKIE_SECURE", "yes"),
			config.Needs{Secret: true}, []string{"DATABASE_URL", "REDIS_URL", "PORTAL_COOKIE_SECURE", "PORTAL_SECRET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.FromEnv(tt.env, tt.needs)
			if err == nil {
				t.Fatalf("FromEnv accepted it: %+v", c)
			}
			if c != nil {
				t.Errorf("FromEnv returned a config with the error: %+v", c)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestCookieSecure(t *testing.T) {
	tests := []struct {
		value string
		demo  bool // serve --demo runs on plain http: unset means off
		want  bool
	}{
		{"", false, true}, {"on", false, true}, {"true", false, true}, {"1", false, true}, {"ON", false, true},
		{"off", false, false}, {"false", false, false}, {"0", false, false}, {"Off", false, false},
		{"", true, false}, {"on", true, true}, {"off", true, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("value=%s demo=%v", tt.value, tt.demo), func(t *testing.T) {
			c, err := config.FromEnv(env("PORTAL_COOKIE_SECURE", tt.value, "PORTAL_SECRET", secretOf(32)),
				config.Needs{Secret: tt.demo, Demo: tt.demo})
			if err != nil {
				t.Fatal(err)
			}
			if c.CookieSecure != tt.want {
				t.Errorf("CookieSecure = %v, want %v", c.CookieSecure, tt.want)
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		value string
		want  []string
	}{
		{"", nil},
		{"127.0.0.1", []string{"127.0.0.1"}},
		{"10.0.0.0/8, 192.168.1.10 ,::1,fd00::/8", []string{"10.0.0.0/8", "192.168.1.10", "::1", "fd00::/8"}},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := config.FromEnv(env("PORTAL_TRUSTED_PROXIES", tt.value), config.Needs{})
			if err != nil {
				t.Fatal(err)
			}
			if !cmp.Equal(c.TrustedProxies, tt.want) {
				t.Errorf("TrustedProxies = %q, want %q", c.TrustedProxies, tt.want)
			}
		})
	}
}

func TestDemoSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data") // not there yet: FromEnv makes it
	needs := config.Needs{Secret: true, Demo: true}
	c1, err := config.FromEnv(env("PORTAL_DATA_DIR", dir), needs)
	if err != nil {
		t.Fatal(err)
	}
	if !c1.SecretCreated || len(c1.Secret) != 32 {
		t.Fatalf("first call: SecretCreated = %v, %d-byte secret; want true, 32", c1.SecretCreated, len(c1.Secret))
	}
	path := filepath.Join(dir, "secret")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", path, st.Mode().Perm())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(b))); err != nil || !bytes.Equal(got, c1.Secret) {
		t.Errorf("the file holds %q, not the base64 of the secret in use", b)
	}
	if bytes.Equal(c1.Secret, make([]byte, 32)) {
		t.Error("the secret is all zeros")
	}

	c2, err := config.FromEnv(env("PORTAL_DATA_DIR", dir), needs)
	if err != nil {
		t.Fatal(err)
	}
	if c2.SecretCreated || !bytes.Equal(c2.Secret, c1.Secret) {
		t.Errorf("second call: SecretCreated = %v, same secret = %v; want false, true", c2.SecretCreated, bytes.Equal(c2.Secret, c1.Secret))
	}

	t.Run("a corrupt secret file is refused", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := config.FromEnv(env("PORTAL_DATA_DIR", dir), needs)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "secret")) {
			t.Errorf("FromEnv = %v, want an error naming the file", err)
		}
	})
	t.Run("without demo no file is made", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := config.FromEnv(env("PORTAL_DATA_DIR", dir), config.Needs{Secret: true}); err == nil {
			t.Error("FromEnv without PORTAL_SECRET and without demo succeeded")
		}
		if _, err := os.Stat(filepath.Join(dir, "secret")); !os.IsNotExist(err) {
			t.Errorf("a secret file was made without demo: %v", err)
		}
	})
}

func TestKey(t *testing.T) {
	mustConfig := func(secret string) *config.Config {
		t.Helper()
		c, err := config.FromEnv(env("PORTAL_SECRET", secret), config.Needs{Secret: true})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := mustConfig(secretOf(32))
	again := mustConfig(secretOf(32))
	other := mustConfig(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{8}, 32)))
	purposes := []string{config.KeyIDEncryption, config.KeyIDIndex, config.KeyCSRF, config.KeyAudit}
	seen := map[string]string{}
	for _, p := range purposes {
		t.Run(p, func(t *testing.T) {
			k := a.Key(p)
			if len(k) != 32 {
				t.Fatalf("Key(%s) has %d bytes, want 32", p, len(k))
			}
			if !bytes.Equal(k, a.Key(p)) || !bytes.Equal(k, again.Key(p)) {
				t.Error("Key is not deterministic")
			}
			if bytes.Equal(k, other.Key(p)) {
				t.Error("two secrets give the same key")
			}
			if bytes.Equal(k, a.Secret) {
				t.Error("the key is the secret itself")
			}
			if q, ok := seen[string(k)]; ok {
				t.Errorf("purposes %s and %s share a key", q, p)
			}
			seen[string(k)] = p
		})
	}
}

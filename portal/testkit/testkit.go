// Package testkit starts real portals for tests: a fresh SQLite file or
// PostgreSQL schema, optionally Redis under a key prefix of its own, the
// whole server on a free port, and clients that speak its API and its HTML
// forms. Nothing is mocked.
//
// PostgreSQL and Redis come from PORTAL_TEST_DATABASE_URL and
// PORTAL_TEST_REDIS_URL (defaults: the local servers). When one does not
// answer, the test fails and says how to start it; PORTAL_TEST_EXTERNAL=off
// skips those tests instead (never in CI).
package testkit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/boot"
	"tzportal/portal/config"
	"tzportal/portal/session/sessiontest"
	"tzportal/portal/sqlstore"
	"tzportal/portal/validate"
)

// Defaults of the external servers.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultRedis    = "redis://127.0.0.1:6379/15"
)

// External reports whether tests against PostgreSQL and Redis run.
func External() bool { return os.Getenv("PORTAL_TEST_EXTERNAL") != "off" }

func needExternal(tb testing.TB, what, how string, err error) {
	tb.Helper()
	if !External() {
		tb.Skipf("PORTAL_TEST_EXTERNAL=off: skipping the %s test", what)
	}
	tb.Fatalf("%s is not reachable (%v).\nStart it with:\n    %s\nor point the tests elsewhere, or set PORTAL_TEST_EXTERNAL=off to skip (never in CI)", what, err, how)
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// SQLite returns the URL of a fresh SQLite file in a temp dir.
func SQLite(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + tb.TempDir() + "/portal.db"
}

// OpenSQLite opens and migrates a fresh SQLite database for the test and
// closes it at the end.
func OpenSQLite(tb testing.TB) *sqlstore.DB {
	tb.Helper()
	ctx := context.Background()
	db, err := sqlstore.Open(ctx, SQLite(tb), sqlstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(ctx); err != nil {
		tb.Fatal(err)
	}
	return db
}

// Postgres creates a fresh schema for the test and returns a URL whose
// search_path is that schema; the schema is dropped at the end.
func Postgres(tb testing.TB) string {
	tb.Helper()
	if !External() {
		tb.Skip("PORTAL_TEST_EXTERNAL=off: skipping a PostgreSQL test")
	}
	base := os.Getenv("PORTAL_TEST_DATABASE_URL")
	if base == "" {
		base = DefaultPostgres
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		needExternal(tb, "PostgreSQL", "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start", err)
	}
	schema := randomName("t_")
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("pgx", base)
		if err != nil {
			return
		}
		defer db.Close()
		db.Exec("DROP SCHEMA " + schema + " CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Redis returns the URL of the test Redis and a fresh key prefix; the keys
// under the prefix are deleted at the end (never FLUSHDB: Redis is shared).
func Redis(tb testing.TB) (string, string) {
	tb.Helper()
	if !External() {
		tb.Skip("PORTAL_TEST_EXTERNAL=off: skipping a Redis test")
	}
	u := os.Getenv("PORTAL_TEST_REDIS_URL")
	if u == "" {
		u = DefaultRedis
	}
	opt, err := redis.ParseURL(u)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		needExternal(tb, "Redis", `redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no`, err)
	}
	prefix := randomName("test:") + ":"
	tb.Cleanup(func() {
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return u, prefix
}

// Clock is a settable clock for tests that move time (deadlines, lockouts,
// session lifetimes) without sleeping: the session suite's clock.
type Clock = sessiontest.Clock

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return sessiontest.NewClock(t) }

// Backend chooses the database and session store of a test portal.
type Backend struct {
	Name     string // for t.Run
	Postgres bool
	Redis    bool
}

// Backends are the two ways the portal runs: embedded defaults, and
// production (PostgreSQL + Redis).
var Backends = []Backend{{Name: "sqlite"}, {Name: "postgres+redis", Postgres: true, Redis: true}}

// EachBackend runs test once per backend, in parallel subtests.
func EachBackend(t *testing.T, test func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			test(t, b)
		})
	}
}

// Portal is a running test portal.
type Portal struct {
	*boot.Portal
	URL    string // http://127.0.0.1:PORT
	Clock  *Clock
	Config *config.Config

	mu      sync.Mutex
	secrets map[string]string // staff login → TOTP secret, from MustStaff
	people  atomic.Int64      // identities made by NewApplicant
}

// TOTPSecret returns the one-time-code secret MustStaff enrolled for login.
func (p *Portal) TOTPSecret(login string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.secrets[login]
}

// OTP returns a fresh one-time code for a staff login. Each call first moves
// the clock to the next 30-second step, because a code is accepted once.
func (p *Portal) OTP(tb testing.TB, login string) string {
	tb.Helper()
	secret := p.TOTPSecret(login)
	if secret == "" {
		tb.Fatalf("OTP(%s): no secret (made with MustStaff?)", login)
	}
	p.Clock.Advance(30 * time.Second)
	code, err := totp.GenerateCodeCustom(secret, p.Clock.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// Start runs a portal for the test on a free port and stops it at the end.
// The clock starts at Monday 2026-11-30 10:00 China time unless clock is given.
func Start(tb testing.TB, b Backend, clock *Clock) *Portal {
	tb.Helper()
	return StartWith(tb, Options{Backend: b, Clock: clock})
}

// Options configure StartWith.
type Options struct {
	Backend Backend
	Clock   *Clock
	// DatabaseURL and RedisURL replace the fresh ones the backend would get
	// (e.g. to reach them through a FaultProxy); Backend still says which
	// kinds are used.
	DatabaseURL, RedisURL, RedisPrefix string
	Env                                map[string]string // more environment, e.g. PORTAL_STAFF_MFA
	Logger                             *slog.Logger      // default: discard (PORTAL_TEST_LOG=1 prints)
	WrapStore                          func(portal.Store) portal.Store
	DBRoundTrips, RedisRoundTrips      *atomic.Int64 // count round trips (see boot.Options)
	Plugins                            []boot.Plugin // services shipped with their own files
}

// StartWith runs a portal as Start does, with more control.
func StartWith(tb testing.TB, o Options) *Portal {
	tb.Helper()
	clock := o.Clock
	if clock == nil {
		clock = NewClock(time.Date(2026, 11, 30, 2, 0, 0, 0, time.UTC))
	}
	env := map[string]string{"PORTAL_COOKIE_SECURE": "off", "PORTAL_SECRET": NewSecret(), "PORTAL_DATA_DIR": tb.TempDir()}
	switch {
	case o.DatabaseURL != "":
		env["DATABASE_URL"] = o.DatabaseURL
	case o.Backend.Postgres:
		env["DATABASE_URL"] = Postgres(tb)
	default:
		env["DATABASE_URL"] = SQLite(tb)
	}
	// Both stores of materials' bytes are tested: the directory with the
	// embedded defaults, the database with PostgreSQL (as several nodes run).
	if o.Backend.Postgres {
		env["PORTAL_FILES"] = "db"
	}
	prefix := o.RedisPrefix
	switch {
	case o.RedisURL != "":
		env["REDIS_URL"] = o.RedisURL
		if prefix == "" {
			prefix = randomName("test:") + ":"
		}
	case o.Backend.Redis:
		env["REDIS_URL"], prefix = Redis(tb)
	}
	for k, v := range o.Env {
		env[k] = v
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] }, config.Needs{Secret: true})
	if err != nil {
		tb.Fatal(err)
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if os.Getenv("PORTAL_TEST_LOG") != "" {
			logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		}
	}
	p, err := boot.Open(context.Background(), cfg, boot.Options{Logger: logger, Now: clock.Now, Migrate: true, RedisPrefix: prefix, WrapStore: o.WrapStore,
		DBRoundTrips: o.DBRoundTrips, RedisRoundTrips: o.RedisRoundTrips, Plugins: o.Plugins})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		tb.Fatal(err)
	}
	go p.Server.Serve(ln)
	tb.Cleanup(func() {
		p.Server.Shutdown(5 * time.Second)
		p.Close()
	})
	return &Portal{Portal: p, URL: "http://" + ln.Addr().String(), Clock: clock, Config: cfg, secrets: map[string]string{}}
}

// NewSecret returns a fresh PORTAL_SECRET value.
func NewSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return encodeStd(b)
}

// Password is the password of every account the kit creates.
const Password = "Taizhou-2026"

// MustStaff adds a staff account with one grant and returns it.
func (p *Portal) MustStaff(tb testing.TB, login, role, division string) *portal.User {
	tb.Helper()
	u, en, err := p.Accounts.AddStaff(context.Background(), portal.Actor{System: "test"}, account.Staff{
		Login: login, Password: Password, Name: "测试 " + login, Role: role, Division: division})
	if err != nil {
		tb.Fatalf("MustStaff(%s): %v", login, err)
	}
	p.mu.Lock()
	p.secrets[login] = en.Secret
	p.mu.Unlock()
	return u
}

// Applicant is a test applicant's identity.
type Applicant struct {
	Name, IDNumber, Mobile string
}

// Applicants are valid identities (GB 11643 checksums) for tests.
var Applicants = []Applicant{
	{"张三", "321202199001010017", "13800000001"},
	{"李四", "321283198506150027", "13800000002"},
	{"王五", "11010519491231002X", "13800000003"},
}

// MustApplicant registers one of Applicants through the service.
func (p *Portal) MustApplicant(tb testing.TB, a Applicant) *portal.User {
	tb.Helper()
	u, err := p.Accounts.Register(context.Background(), portal.Actor{System: "test"}, account.Registration{
		Name: a.Name, IDNumber: a.IDNumber, Mobile: a.Mobile, Password: Password})
	if err != nil {
		tb.Fatalf("MustApplicant(%s): %v", a.Name, err)
	}
	return u
}

// NewApplicant registers a new applicant with an identity of its own (a
// valid ID number, a mobile number) and returns it with a client logged
// in as them (LoginAs): for tests that need many people, each with their
// own open applications.
//
// The account is written straight to the database with a password hash
// made once per test binary: registering through the service hashes the
// password (argon2id, tens of milliseconds) every time.
func (p *Portal) NewApplicant(tb testing.TB, name string) (*portal.User, *Client) {
	tb.Helper()
	n := p.people.Add(1)
	id := IDNumber(fmt.Sprintf("3212021992%04d%03d", 101+n/1000, n%1000))
	cipher, index, err := p.Accounts.Sealer.Seal(id)
	if err != nil {
		tb.Fatal(err)
	}
	u := &portal.User{Kind: portal.KindApplicant, Name: name, Mobile: fmt.Sprintf("1370%07d", n), IDIndex: index, IDCipher: cipher,
		PasswordHash: passwordHash(tb), CreatedAt: p.Clock.Now()}
	if err := p.DB.Tx(context.Background(), func(tx portal.Tx) error { return tx.InsertUser(context.Background(), u) }); err != nil {
		tb.Fatalf("NewApplicant: %v", err)
	}
	c := p.NewClient(tb)
	c.LoginAs(u)
	return u, c
}

var hashOnce struct {
	sync.Once
	hash string
	err  error
}

// passwordHash is the hash of Password, made once.
func passwordHash(tb testing.TB) string {
	hashOnce.Do(func() { hashOnce.hash, hashOnce.err = account.HashPassword(Password) })
	if hashOnce.err != nil {
		tb.Fatal(hashOnce.err)
	}
	return hashOnce.hash
}

// IDNumber appends the GB 11643 check character to 17 digits.
func IDNumber(first17 string) string {
	return first17 + string(validate.IDCheckChar(first17))
}

// BadIDNumber returns a valid ID number with a wrong check character: the
// same 17 digits, which a person mistyping the last one would send.
func BadIDNumber(valid string) string {
	if len(valid) != 18 {
		panic("testkit.BadIDNumber: not an 18-character ID number: " + valid)
	}
	good := IDNumber(valid[:17])
	if good[17] != '0' {
		return valid[:17] + "0"
	}
	return valid[:17] + "1"
}

// Example returns the example form of a service as a map (to change a
// field: f["address"] = "…").
func (p *Portal) Example(tb testing.TB, service string) map[string]any {
	tb.Helper()
	e, ok := p.Registry.Get(service)
	if !ok || !e.Online() {
		tb.Fatalf("Example(%s): no such service", service)
	}
	var m map[string]any
	if err := json.Unmarshal(e.Service.Example(), &m); err != nil {
		tb.Fatal(err)
	}
	return m
}

// Count runs a count query on the portal's database (a test's view of what
// was written).
func (p *Portal) Count(tb testing.TB, query string, args ...any) int {
	tb.Helper()
	var n int
	if err := p.DB.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		tb.Fatalf("Count(%q): %v", query, err)
	}
	return n
}

// ResidenceForm is a complete residence-permit form; override fields with kv pairs.
func ResidenceForm(kv ...string) map[string]string {
	f := map[string]string{
		"division": "321202001", "address": "海陵区东进东路18号3幢201室", "resided_since": "2025-01-01",
		"basis": "employment", "basis_detail": "泰州市某机械有限公司", "phone": "13912345678",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		f[kv[i]] = kv[i+1]
	}
	return f
}

// MustUserID returns the id of the staff account with login.
func (p *Portal) MustUserID(tb testing.TB, login string) int64 {
	tb.Helper()
	u, err := p.DB.UserByLogin(context.Background(), login)
	if err != nil {
		tb.Fatalf("MustUserID(%s): %v", login, err)
	}
	return u.ID
}

// MissingTexts lists the message ids an online service needs and a
// language lacks ("en: hukou-transfer.state.settled"): the name and guide,
// a label for every state, event, input, material, page and field, the
// next step of every state for applicants and staff, the confirmation of
// every event and of a negative one's question. A new service is checked
// the day it exists.
func (p *Portal) MissingTexts() []string {
	var out []string
	for _, e := range p.Registry.Online() {
		def, svc := e.Def, e.ID+"."
		ids := []string{"name", "guide.summary", "guide.who", "guide.conditions", "guide.time_limit", "guide.fee", "guide.basis",
			"done.create", "done.edit"}
		for _, st := range def.StateNames() {
			ids = append(ids, "state."+st, "next."+st+".applicant", "next."+st+".staff")
			if def.States[st].Outcome == "refused" {
				ids = append(ids, "refusal_title")
			}
		}
		for _, ev := range def.EventNames() {
			ids = append(ids, "event."+ev, "action."+ev, "done."+ev)
			if def.Negative(ev) {
				ids = append(ids, "action."+ev+"_confirm", "confirm."+ev)
			}
		}
		for _, in := range def.InputNames() {
			ids = append(ids, "input."+in)
		}
		var notices []string
		for _, ev := range def.EventNames() {
			if def.Events[ev].Notify {
				notices = append(notices, ev)
			}
		}
		if c := def.Certificate; c != nil {
			if c.Remind != nil {
				notices = append(notices, c.Remind.Notice)
			}
			if c.LapseNotice != "" {
				notices = append(notices, c.LapseNotice)
			}
		}
		for _, n := range notices {
			ids = append(ids, "notify."+n+".title", "notify."+n+".body", "notify."+n+".sms")
		}
		for _, m := range def.Material {
			ids = append(ids, "material."+m)
		}
		for _, pg := range e.Service.Pages() {
			ids = append(ids, "page."+pg.ID)
			if pg.List != "" {
				ids = append(ids, "field."+pg.List+".entry", "empty."+pg.ID, "add."+pg.ID)
			}
			for _, f := range pg.Fields {
				ids = append(ids, "field."+f.Name)
				if pg.List != "" {
					ids = append(ids, "field."+pg.List+"."+f.Name)
				}
				if f.Kind == "choice" {
					for _, o := range f.Options {
						ids = append(ids, "option."+f.Name+"."+o)
					}
				}
			}
		}
		for _, lang := range []string{"zh-CN", "en"} {
			l := p.Catalog.L(lang)
			for _, id := range ids {
				if !l.Has(svc + id) {
					out = append(out, lang+": "+svc+id)
				}
			}
		}
	}
	return out
}

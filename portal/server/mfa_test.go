package server_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/testkit"
)

func code(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestStaffNeedTwoFactors(t *testing.T) {
	testkit.EachBackend(t, func(t *testing.T, b testkit.Backend) {
		p := testkit.Start(t, b, nil)
		p.MustStaff(t, "clerk1", "street_clerk", "321202001")
		secret := p.TOTPSecret("clerk1")
		c := p.NewClient(t)
		login := func(otpCode string) *testkit.Response {
			return c.Do("POST", "/api/v1/session", map[string]string{"login": "clerk1", "password": testkit.Password, "otp": otpCode})
		}
		r := login("")
		if r.Status != 401 || r.JSON(t)["rule"] != "otp_required" {
			t.Fatalf("password only: %d %s", r.Status, r.Body)
		}
		if c.Cookie("tz_session") != "" {
			t.Fatal("a session was started without the second factor")
		}
		// A wrong code says the code was wrong, not the password.
		if r := login("000000"); r.Status != 401 || r.JSON(t)["rule"] == "otp_required" || !strings.Contains(r.Text(), "动态验证码不正确") {
			t.Errorf("wrong code: %d %s", r.Status, r.Body)
		}
		if r := c.Do("POST", "/api/v1/session", map[string]string{"login": "clerk1", "password": "Wrong-2026", "otp": "000000"}); r.Status != 401 ||
			!strings.Contains(r.Text(), "账号或密码不正确") {
			t.Errorf("wrong password with a code: %d %s", r.Status, r.Body)
		}
		p.Clock.Advance(30 * time.Second)
		good := code(t, secret, p.Clock.Now())
		if r := login(good); r.Status != 200 {
			t.Fatalf("right code: %d %s", r.Status, r.Body)
		}
		other := p.NewClient(t)
		if r := other.Do("POST", "/api/v1/session", map[string]string{"login": "clerk1", "password": testkit.Password, "otp": good}); r.Status != 401 {
			t.Errorf("the same code accepted twice: %d", r.Status)
		}
		for reason, want := range map[string]int{"wrong_totp": 1, "reused_totp": 1} {
			if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'login' AND result = 'failed' AND detail LIKE $1", "%"+reason+"%"); got != want {
				t.Errorf("audited %s: %d", reason, got)
			}
		}
		if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'login' AND result = 'pending'"); got != 1 {
			t.Errorf("password-only attempts audited as pending: %d", got)
		}
		// The secret is stored encrypted.
		if got := p.Count(t, "SELECT count(*) FROM users WHERE login = 'clerk1' AND totp_secret IS NOT NULL"); got != 1 {
			t.Error("no TOTP secret stored")
		}
		var stored []byte
		p.DB.SQL().QueryRow("SELECT totp_secret FROM users WHERE login = 'clerk1'").Scan(&stored)
		if strings.Contains(string(stored), secret) {
			t.Error("the TOTP secret is stored in clear")
		}
		// Five wrong codes lock the account like five wrong passwords.
		c = p.NewClient(t)
		for i := 0; i < 5; i++ {
			if r := login("111111"); r.Status != 401 {
				t.Fatalf("wrong code %d: %d", i+1, r.Status)
			}
		}
		p.Clock.Advance(30 * time.Second)
		if r := login(code(t, secret, p.Clock.Now())); r.Status != 401 {
			t.Errorf("after five wrong codes: %d", r.Status)
		}
	})
}

var secretRE = regexp.MustCompile(`<code class="secret">([A-Z2-7]+)</code>`)

// A staff account made without an app (the demo's) sets it up at first
// login: the secret is shown once, as text and as a QR code.
func TestFirstLoginSetsUpTheApp(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{}, nil)
	if _, _, err := p.Accounts.AddStaff(context.Background(), portal.Actor{System: "test"}, account.Staff{
		Login: "newclerk", Password: testkit.Password, Name: "新窗口", Role: "street_clerk", Division: "321202001", DeferTOTP: true}); err != nil {
		t.Fatal(err)
	}
	c := p.NewClient(t)
	page := c.Submit("/login", "/login", "login", "newclerk", "password", testkit.Password)
	wantStatus(t, page, 200, "password step")
	wantText(t, page, "setup page", `src="data:image/png;base64,`, "绑定验证器", `autocomplete="one-time-code"`)
	m := secretRE.FindStringSubmatch(page.Text())
	if m == nil {
		t.Fatalf("no secret on the setup page:\n%.2000s", page.Text())
	}
	ticket := regexp.MustCompile(`name="ticket" value="([^"]*)"`).FindStringSubmatch(page.Text())[1]
	tok := testkit.FormToken(t, page.Text())
	r := c.Post("/login/otp", "_csrf", tok, "ticket", ticket, "otp", "123456")
	wantStatus(t, r, 401, "wrong first code")
	wantText(t, r, "wrong first code", "动态验证码不正确")
	p.Clock.Advance(30 * time.Second)
	r = c.Post("/login/otp", "_csrf", tok, "ticket", ticket, "otp", code(t, m[1], p.Clock.Now()))
	wantRedirect(t, r, "/cases", "first code")
	if got := p.Count(t, "SELECT count(*) FROM users WHERE login = 'newclerk' AND totp_confirmed_at IS NOT NULL"); got != 1 {
		t.Error("the app is not recorded as set up")
	}
	// From now on the code is required and no new secret is shown.
	c2 := p.NewClient(t)
	page = c2.Submit("/login", "/login", "login", "newclerk", "password", testkit.Password)
	if strings.Contains(page.Text(), "data:image/png") || !strings.Contains(page.Text(), "输入动态验证码") {
		t.Error("a second login shows the setup again")
	}
	// A forged or expired ticket leads back to the login page.
	wantRedirect(t, c2.Post("/login/otp", "_csrf", testkit.FormToken(t, page.Text()), "ticket", "1.9999999999.AAAA", "otp", "123456"), "/login", "forged ticket")
}

func TestMFACanBeTurnedOffForLocalUse(t *testing.T) {
	p := testkit.StartWith(t, testkit.Options{Env: map[string]string{"PORTAL_STAFF_MFA": "off"}})
	if _, _, err := p.Accounts.AddStaff(context.Background(), portal.Actor{System: "test"}, account.Staff{
		Login: "devclerk", Password: testkit.Password, Name: "开发", Role: "street_clerk", Division: "321202001", DeferTOTP: true}); err != nil {
		t.Fatal(err)
	}
	c := p.NewClient(t)
	if r := c.Do("POST", "/api/v1/session", map[string]string{"login": "devclerk", "password": testkit.Password}); r.Status != 200 {
		t.Errorf("with PORTAL_STAFF_MFA=off: %d %s", r.Status, r.Body)
	}
}

func TestLoginThrottledPerAddress(t *testing.T) {
	p := testkit.Start(t, testkit.Backend{Redis: true, Postgres: true}, nil)
	c := p.NewClient(t)
	limit := p.Accounts.Policy.Lockout.IPAttemptsPerMinute
	statuses := map[int]int{}
	for i := 0; i <= limit; i++ {
		statuses[c.Do("POST", "/api/v1/session", map[string]string{"login": "13999999999", "password": "x"}).Status]++
	}
	if statuses[401] != limit || statuses[429] != 1 {
		t.Fatalf("%d attempts from one address: %v, want %d×401 then 429", limit+1, statuses, limit)
	}
	if got := p.Count(t, "SELECT count(*) FROM audit_log WHERE action = 'login' AND detail LIKE '%ip_throttled%'"); got != 1 {
		t.Errorf("throttled attempts audited: %d", got)
	}
	p.Clock.Advance(time.Minute) // the window is Redis's: it still counts
}

// Disabling an account or revoking a grant bites at the next request on
// every node: two portals share PostgreSQL and Redis.
func TestRevocationOnEveryNode(t *testing.T) {
	dbURL := testkit.Postgres(t)
	redisURL, prefix := testkit.Redis(t)
	opts := testkit.Options{Backend: testkit.Backend{Postgres: true, Redis: true}, DatabaseURL: dbURL, RedisURL: redisURL, RedisPrefix: prefix,
		Env: map[string]string{"PORTAL_SECRET": testkit.NewSecret()}}
	a := testkit.StartWith(t, opts)
	b := testkit.StartWith(t, opts)
	a.MustApplicant(t, testkit.Applicants[0])
	a.MustStaff(t, "clerk1", "street_clerk", "321202001")
	app := a.NewClient(t)
	app.Login(testkit.Applicants[0].Mobile)
	no := app.Do("POST", "/api/v1/cases", map[string]any{"service": "residence-permit", "form": testkit.ResidenceForm()}).JSON(t)["case_no"].(string)
	app.AttachAll(no)
	app.Do("POST", "/api/v1/cases/"+no+"/events/submit", nil)

	onB := b.NewClient(t)
	// Log in on node A; the cookie works on node B (shared Redis).
	onA := a.NewClient(t)
	onA.Login("clerk1")
	onB.SetCookie("tz_session", onA.Cookie("tz_session"))
	onB.CSRF = onA.CSRF
	if r := onB.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 200 {
		t.Fatalf("node B with node A's session: %d", r.Status)
	}
	// Revoke the grant on node A: node B refuses at once, and the session is gone.
	ctx := context.Background()
	if err := a.Accounts.Revoke(ctx, portal.Actor{System: "test"}, "clerk1", portal.Grant{Role: "street_clerk", Division: "321202001"}); err != nil {
		t.Fatal(err)
	}
	if r := onB.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 401 {
		t.Errorf("node B after the revocation: %d", r.Status)
	}
	// Granted again and logged in again, then disabled: refused everywhere.
	if err := a.Accounts.Grant(ctx, portal.Actor{System: "test"}, "clerk1", portal.Grant{Role: "street_clerk", Division: "321202001"}); err != nil {
		t.Fatal(err)
	}
	onA.Login("clerk1")
	onB.SetCookie("tz_session", onA.Cookie("tz_session"))
	if r := onB.Do("GET", "/api/v1/cases/"+no, nil); r.Status != 200 {
		t.Fatalf("after the new grant: %d", r.Status)
	}
	if err := a.Accounts.DisableStaff(ctx, portal.Actor{System: "test"}, "clerk1"); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*testkit.Client{"A": onA, "B": onB} {
		if r := c.Do("GET", "/api/v1/cases", nil); r.Status != 401 {
			t.Errorf("node %s after disabling: %d", name, r.Status)
		}
	}
	if r := a.NewClient(t).Do("POST", "/api/v1/session", map[string]string{"login": "clerk1", "password": testkit.Password, "otp": a.OTP(t, "clerk1")}); r.Status != 401 {
		t.Errorf("a disabled account logs in: %d", r.Status)
	}
	for _, action := range []string{"staff.revoke", "staff.grant", "staff.disable"} {
		if got := a.Count(t, "SELECT count(*) FROM audit_log WHERE action = $1", action); got != 1 {
			t.Errorf("%s audited %d times", action, got)
		}
	}
}

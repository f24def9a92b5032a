// Command portal runs the Taizhou citizen-services portal and its tools.
//
//	portal serve [--demo]      run the portal (migrates first)
//	portal migrate             apply database migrations
//	portal staff add ...       add a staff account with one grant
//	portal staff disable|grant|revoke ...  take access away (sessions end at once) or give it
//	portal system add ...      add a system account; prints its API token once
//	portal staff totp, system rotate --login L  a new one-time-code secret or API token
//	portal audit verify        check the audit hash chain
//	portal fsck                check every invariant of the database
//	portal stats rebuild       rebuild the dashboards' rollups from the timelines
//	portal schools import FILE.csv, schooling window|allocate ...  school places
//	portal housing units import FILE.csv  the housing-security stock (房源)
//
// Configuration comes from the environment: see README.md.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/audit"
	"tzportal/portal/boot"
	"tzportal/portal/config"
	"tzportal/portal/fsck"
	"tzportal/portal/materials"
	"tzportal/portal/sqlstore"
)

const usage = `usage: portal <command> [flags]

commands:
  serve [--demo]   run the portal on PORTAL_ADDR (migrates the database first);
                   --demo also creates ./data/secret if PORTAL_SECRET is unset
                   and seeds demo accounts
  migrate          apply pending database migrations
  staff add        add a staff account:
                   --login L --password P --name N --role ROLE --division CODE
                   (--password - reads the password from standard input); prints the
                   one-time-code app's secret and otpauth:// URI once
  staff disable    --login L: disable a staff or system account; its sessions end at once
  staff grant      --login L --role ROLE --division CODE: add a grant
  staff revoke     --login L --role ROLE --division CODE: remove a grant; sessions end at once
  staff totp       --login L: a new one-time-code secret (a lost phone); prints it
                   once; the old app's codes and the person's sessions end at once
  system add       add a system account for another system calling the API:
                   --login L --name N --role ROLE --division CODE
  system rotate    --login L: a new API token, printed once; the old one stops at once
  audit verify     verify the audit hash chain; exit status 1 names the first broken entry
  fsck             check the database's invariants (versions, history edges, audit
                   entries, audit chain, the dashboards' rollups); exit status 1
                   lists every violation
  stats rebuild    rebuild the dashboards' rollups from every case's timeline (in one
                   transaction: steps on other nodes wait for it)
  schools import FILE.csv
                   import school places (header code,name,district,catchment,year,
                   grade,seats,public); a bad row refuses the file, naming its line
  schooling window --district D --year Y --opens DATE --closes DATE
                   [--publication-days N --appeal-days N]: set an enrollment window
  schooling allocate --district D --year Y --grade G --seed HEX
                   allocate the school places of a published list (once)
  retention run    remove the personal data of closed cases past their service's
                   retention now (the portal does it hourly); prints how many
  housing units import FILE.csv
                   add units to the housing-security stock (header code,district,
                   kind,address,area,rooms); a bad row or a code already in the
                   stock refuses the file, naming its line
  housing verify-draw URL|FILE
                   recompute a published housing draw; exit status 1 names the
                   first difference (needs no database)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
	}
	os.Exit(code)
}

// run is main without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) (int, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2, nil
	}
	// One JSON line per event; PORTAL_LOG_LEVEL sets the least level (a
	// bad value is reported by the command's configuration check).
	level, _ := config.LogLevel(getenv)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	switch cmd := strings.Join(args[:min(2, len(args))], " "); {
	case args[0] == "serve":
		return serve(ctx, args[1:], stdout, logger, getenv)
	case args[0] == "migrate":
		return migrate(ctx, stdout, getenv)
	case cmd == "staff add":
		return staffAdd(ctx, args[2:], stdin, stdout, logger, getenv)
	case cmd == "staff disable" || cmd == "staff grant" || cmd == "staff revoke":
		return staffChange(ctx, args[1], args[2:], stdout, logger, getenv)
	case cmd == "system add":
		return systemAdd(ctx, args[2:], stdout, logger, getenv)
	case cmd == "staff totp" || cmd == "system rotate":
		return renewSecret(ctx, cmd, args[2:], stdout, logger, getenv)
	case cmd == "audit verify":
		return auditVerify(ctx, stdout, logger, getenv)
	case args[0] == "fsck":
		return fsckCmd(ctx, stdout, logger, getenv)
	case cmd == "schools import":
		return schoolsImport(ctx, args[2:], stdout, logger, getenv)
	case cmd == "schooling window":
		return schoolingWindow(ctx, args[2:], stdout, logger, getenv)
	case cmd == "schooling allocate":
		return schoolingAllocate(ctx, args[2:], stdout, logger, getenv)
	case cmd == "retention run":
		return retentionRun(ctx, stdout, logger, getenv)
	case cmd == "stats rebuild":
		return statsRebuild(ctx, stdout, logger, getenv)
	case cmd == "housing units" && len(args) > 2 && args[2] == "import":
		return unitsImport(ctx, args[3:], stdout, logger, getenv)
	case cmd == "housing verify-draw":
		return verifyDraw(ctx, args[2:], stdout)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprint(stdout, usage)
		return 0, nil
	}
	fmt.Fprint(stderr, usage)
	return 2, fmt.Errorf("unknown command %q", strings.Join(args, " "))
}

func serve(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	demo := fs.Bool("demo", false, "seed demo accounts; create ./data/secret if PORTAL_SECRET is unset")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	cfg, err := config.FromEnv(getenv, config.Needs{Secret: true, Demo: *demo})
	if err != nil {
		return 2, err
	}
	if cfg.SecretCreated {
		logger.Warn("created a new secret for the demo", "file", cfg.DataDir+"/secret")
	}
	if !cfg.CookieSecure {
		logger.Warn("PORTAL_COOKIE_SECURE=off: cookies are sent over plain HTTP; use this for local development only")
	}
	p, err := boot.Open(ctx, cfg, boot.Options{Logger: logger, Migrate: true})
	if err != nil {
		return 1, err
	}
	defer p.Close()
	if *demo {
		if err := seedDemo(ctx, p, stdout); err != nil {
			return 1, fmt.Errorf("demo: %w", err)
		}
	}
	timers, stopTimers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopTimers()
	go p.Engine.RunTimers(timers, 30*time.Second, logger)
	go p.Engine.RunRetention(timers, time.Hour, logger)
	go p.Engine.RunSampling(timers, time.Hour, logger)
	go p.Outbox.Run(timers, 5*time.Second)
	// Another node's change of the division tree, or of the calendar.
	go portal.WatchReload(timers, 30*time.Second, logger, "division tree", p.Tree.Stale, p.Tree.Reload)
	go portal.WatchReload(timers, 30*time.Second, logger, "working-day calendar", p.Engine.CalendarStale, p.Engine.ReloadCalendar)

	errc := make(chan error, 2)
	go func() { errc <- p.Server.Listen(cfg.Addr) }()
	metricsAt := "off"
	switch {
	case cfg.MetricsAddr != "":
		ms := &http.Server{Addr: cfg.MetricsAddr, Handler: metricsMux(p, cfg.MetricsToken), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := ms.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("metrics: %w", err)
			}
		}()
		defer ms.Close()
		metricsAt = cfg.MetricsAddr
	case cfg.MetricsToken != "":
		metricsAt = cfg.Addr + "/metrics (token)"
	}
	logger.Info("serving", "addr", cfg.Addr, "database", p.DB.Dialect(), "redis", cfg.RedisURL != "",
		"pgbouncer", cfg.PgBouncer, "metrics", metricsAt, "trusted_proxies", len(cfg.TrustedProxies), "pid", os.Getpid())
	fmt.Fprintf(stdout, "tzportal is running: open http://localhost%s\n", addrPort(cfg.Addr))
	select {
	case err := <-errc:
		return 1, err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	stopTimers()
	if err := p.Server.Shutdown(20 * time.Second); err != nil {
		return 1, err
	}
	logger.Info("stopped")
	return 0, nil
}

// metricsMux serves the metrics on their own address: /metrics (behind the
// token when one is set), nothing else.
func metricsMux(p *boot.Portal, token string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", p.Metrics.Handler(token))
	return mux
}

func addrPort(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i:]
	}
	return addr
}

func migrate(ctx context.Context, stdout io.Writer, getenv func(string) string) (int, error) {
	cfg, err := config.FromEnv(getenv, config.Needs{})
	if err != nil {
		return 2, err
	}
	if cfg.PgBouncer {
		return 2, errors.New("migrate against PostgreSQL itself, not through PgBouncer (a migration holds a session's lock): " +
			"point DATABASE_URL at PostgreSQL and leave PORTAL_PGBOUNCER unset")
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{})
	if err != nil {
		return 1, err
	}
	defer db.Close()
	n, err := db.Migrate(ctx)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "applied %d migration(s) to the %s database\n", n, db.Dialect())
	return 0, nil
}

// cliActor is who a command-line action is recorded as in the audit trail.
func cliActor() portal.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return portal.Actor{System: "cli:" + name, IP: "local"}
}

// openTool wires the portal for a command-line tool. The exit status is 2
// for a configuration error and 1 for anything else.
func openTool(ctx context.Context, logger *slog.Logger, getenv func(string) string, migrate bool) (*boot.Portal, int, error) {
	cfg, err := config.FromEnv(getenv, config.Needs{Secret: true})
	if err != nil {
		return nil, 2, err
	}
	p, err := boot.Open(ctx, cfg, boot.Options{Logger: logger, Migrate: migrate})
	if err != nil {
		return nil, 1, err
	}
	return p, 0, nil
}

func staffAdd(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("staff add", flag.ContinueOnError)
	var s account.Staff
	fs.StringVar(&s.Login, "login", "", "login name (lower-case letters, digits, _ . -)")
	fs.StringVar(&s.Password, "password", "", "password, or - to read it from standard input")
	fs.StringVar(&s.Name, "name", "", "full name")
	fs.StringVar(&s.Role, "role", "", "street_clerk, district_officer, supervisor or admin")
	fs.StringVar(&s.Division, "division", "", "Taizhou division code (6 or 9 digits)")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if s.Login == "" || s.Password == "" || s.Name == "" || s.Role == "" || s.Division == "" {
		return 2, errors.New("staff add needs --login, --password, --name, --role and --division")
	}
	if s.Password == "-" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && err != io.EOF {
			return 1, err
		}
		s.Password = strings.TrimRight(line, "\r\n")
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	u, en, err := p.Accounts.AddStaff(ctx, cliActor(), s)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "added staff %s (user %d): %s in %s\n", u.Login, u.ID, s.Role, s.Division)
	fmt.Fprintf(stdout, "one-time-code app (shown once; hand it over in person, then destroy this output):\n  secret %s\n  %s\n", en.Secret, en.URI)
	return 0, nil
}

// staffChange disables an account, or grants or revokes a role in a division.
func staffChange(ctx context.Context, verb string, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("staff "+verb, flag.ContinueOnError)
	login := fs.String("login", "", "login of the staff or system account")
	var g portal.Grant
	if verb != "disable" {
		fs.StringVar(&g.Role, "role", "", "role")
		fs.StringVar(&g.Division, "division", "", "division code")
	}
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if *login == "" || (verb != "disable" && (g.Role == "" || g.Division == "")) {
		return 2, fmt.Errorf("staff %s needs --login%s", verb, map[bool]string{true: "", false: ", --role and --division"}[verb == "disable"])
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	switch verb {
	case "disable":
		err = p.Accounts.DisableStaff(ctx, cliActor(), *login)
	case "grant":
		err = p.Accounts.Grant(ctx, cliActor(), *login, g)
	case "revoke":
		err = p.Accounts.Revoke(ctx, cliActor(), *login, g)
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "staff %s %s: done\n", verb, *login)
	return 0, nil
}

func systemAdd(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("system add", flag.ContinueOnError)
	login := fs.String("login", "", "login name of the system")
	name := fs.String("name", "", "what the system is")
	role := fs.String("role", "", "a system role from policies/roles.yaml")
	division := fs.String("division", "", "division code the grant covers")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if *login == "" || *name == "" || *role == "" || *division == "" {
		return 2, errors.New("system add needs --login, --name, --role and --division")
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	u, token, err := p.Accounts.AddSystem(ctx, cliActor(), *login, *name, *role, *division)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "added system account %s (user %d)\nAPI token (shown once; send it as \"Authorization: Bearer <token>\"):\n%s\n", u.Login, u.ID, token)
	return 0, nil
}

// renewSecret makes a staff member's new one-time-code secret or a
// system's new API token (as the admin pages do) and prints it once.
func renewSecret(ctx context.Context, cmd string, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	login := fs.String("login", "", "login of the account")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if *login == "" {
		return 2, fmt.Errorf("%s needs --login", cmd)
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	if cmd == "system rotate" {
		token, err := p.Accounts.RotateToken(ctx, cliActor(), *login)
		if err != nil {
			return 1, err
		}
		fmt.Fprintf(stdout, "new API token of %s (shown once; the old one no longer works):\n%s\n", *login, token)
		return 0, nil
	}
	en, err := p.Accounts.ResetTOTP(ctx, cliActor(), *login)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "new one-time-code secret of %s (shown once; hand it over in person, then destroy this output):\n  secret %s\n  %s\n", *login, en.Secret, en.URI)
	return 0, nil
}

func auditVerify(ctx context.Context, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	cfg, err := config.FromEnv(getenv, config.Needs{Secret: true})
	if err != nil {
		return 2, err
	}
	db, err := sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{PgBouncer: cfg.PgBouncer})
	if err != nil {
		return 1, err
	}
	defer db.Close()
	log := audit.New(cfg.Key(config.KeyAudit), time.Now)
	n, err := log.Verify(ctx, db)
	// The result is kept for the audit view (/audit shows the last check
	// and when it ran); a database not yet migrated to keep it is told, not
	// fatal: the check itself is what the command is for.
	if c, rerr := log.Result(cliActor(), n, err); rerr == nil {
		if serr := log.Save(ctx, db, cliActor(), c); serr != nil {
			logger.Warn("the check's result is not recorded", "err", serr)
		}
	}
	var broken *audit.Broken
	if errors.As(err, &broken) {
		fmt.Fprintf(stdout, "%v (%d entries before it are intact)\n", broken, n)
		return 1, nil
	}
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "audit chain intact: %d entries\n", n)
	return 0, nil
}

// fsckCmd checks the invariants; it never migrates or writes.
func fsckCmd(ctx context.Context, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	p, code, err := openTool(ctx, logger, getenv, false)
	if err != nil {
		return code, err
	}
	defer p.Close()
	res, err := fsck.Check(ctx, p.DB, p.Engine.Definitions(), p.Audit)
	if err != nil {
		return 1, err
	}
	var files fsck.FileLister
	if root := filepath.Join(p.Config.DataDir, "materials"); dirExists(root) {
		files = materials.Dir{Root: root}
	}
	mv, err := fsck.CheckMaterials(ctx, p.DB, files)
	if err != nil {
		return 1, err
	}
	res.Violations = append(res.Violations, mv...)
	cv, err := fsck.CheckCohorts(ctx, p.DB)
	if err != nil {
		return 1, err
	}
	res.Violations = append(res.Violations, cv...)
	sv, err := fsck.CheckStats(ctx, p.DB, p.Engine.ReplayStats)
	if err != nil {
		return 1, err
	}
	res.Violations = append(res.Violations, sv...)
	for _, v := range res.Violations {
		fmt.Fprintln(stdout, v)
	}
	if len(res.Violations) > 0 {
		fmt.Fprintf(stdout, "fsck: %d violation(s) in %d cases and %d audit entries\n", len(res.Violations), res.Cases, res.Audit)
		return 1, nil
	}
	fmt.Fprintf(stdout, "fsck: ok: %d cases, %d audit entries\n", res.Cases, res.Audit)
	return 0, nil
}

func dirExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}

// retentionRun removes the personal data of closed cases past retention
// now, all of them (the serving portal does it hourly, 500 a service).
// statsRebuild rebuilds the dashboards' rollups from the timelines.
func statsRebuild(ctx context.Context, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	p, code, err := openTool(ctx, logger, getenv, false)
	if err != nil {
		return code, err
	}
	defer p.Close()
	n, err := p.Engine.RebuildStats(ctx)
	if err != nil {
		return 1, err
	}
	fmt.Fprintf(stdout, "dashboards' rollups rebuilt from %d cases\n", n)
	return 0, nil
}

func retentionRun(ctx context.Context, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	p, code, err := openTool(ctx, logger, getenv, false)
	if err != nil {
		return code, err
	}
	defer p.Close()
	total := 0
	for {
		n, err := p.Engine.Anonymise(ctx, 500)
		total += n
		if err != nil {
			return 1, err
		}
		if n == 0 {
			break
		}
	}
	fmt.Fprintf(stdout, "personal data removed from %d closed cases past retention\n", total)
	return 0, nil
}

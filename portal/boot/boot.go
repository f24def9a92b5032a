// Package boot assembles a running portal from its configuration: the store,
// sessions, policies, workflows, services and the HTTP server. The binary
// and the end-to-end tests build the portal the same way, through Open.
package boot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"tzportal/i18n"
	"tzportal/policies"
	"tzportal/portal"
	"tzportal/portal/account"
	"tzportal/portal/audit"
	"tzportal/portal/authz"
	"tzportal/portal/certificate"
	"tzportal/portal/config"
	"tzportal/portal/division"
	"tzportal/portal/endorsement"
	"tzportal/portal/housing"
	"tzportal/portal/hukou"
	"tzportal/portal/locale"
	"tzportal/portal/metrics"
	"tzportal/portal/outbox"
	"tzportal/portal/pii"
	"tzportal/portal/rating"
	"tzportal/portal/redisstore"
	"tzportal/portal/residence"
	"tzportal/portal/schooling"
	"tzportal/portal/server"
	"tzportal/portal/session"
	"tzportal/portal/sqlstore"
	"tzportal/portal/unitstock"
	"tzportal/portal/validate"
	"tzportal/portal/workflow"
	"tzportal/workflows"
)

// Options adjust Open for tests and tools.
type Options struct {
	Logger      *slog.Logger
	Now         func() time.Time // default time.Now
	Migrate     bool             // apply pending migrations first
	RedisPrefix string           // key prefix in Redis (default "tz:"), then the installation's id; tests use their own
	// WrapStore, when set, wraps the store the services use (fault
	// injection in tests: a store that fails or panics on demand).
	WrapStore func(portal.Store) portal.Store
	// DBRoundTrips and RedisRoundTrips, when set, count round trips (the
	// load tool).
	DBRoundTrips, RedisRoundTrips *atomic.Int64
	// MaxOpenConns sizes the database pool (default: sqlstore's).
	MaxOpenConns int
	// Plugins are services shipped with their own files, beside the ones
	// built in (a test loads one from a folder of its own).
	Plugins []Plugin
}

// Plugin is a citizen service shipped with its own files: New makes its
// service, and Files holds workflows/<id>.yaml, i18n/<id>.<lang>.yaml and
// templates/services/<id>/*.html — what a built-in service keeps in
// workflows/, i18n/ and web/templates/.
type Plugin struct {
	New   func(Deps) workflow.Service
	Files fs.FS
}

// Deps are what a service may need from the portal to build itself.
type Deps struct {
	Validator *validate.Validator
	Sealer    *pii.Sealer
	Counties  *portal.Counties
}

// Services are the citizen services built into the portal. Adding one is
// its own files and one line here.
func Services(d Deps) []workflow.Service {
	return []workflow.Service{
		residence.New(d.Validator),
		hukou.New(d.Validator, d.Sealer, d.Counties),
		endorsement.New(d.Validator),
		schooling.New(d.Validator, d.Sealer),
		housing.New(d.Validator, d.Sealer),
	}
}

// Portal is a fully wired portal.
type Portal struct {
	Config   *config.Config
	Logger   *slog.Logger
	DB       *sqlstore.DB
	Redis    *redis.Client // nil with in-process sessions
	Sessions session.Store
	Failures session.Counter
	Authz    *authz.Authz
	Engine   *workflow.Engine
	Accounts *account.Accounts
	Ratings  *rating.Ratings
	// Tree changes the division tree (the admin pages); serve reloads it
	// when another node changed it (portal.WatchReload).
	Tree *division.Tree
	// Units is the housing stock (the admin pages, portal housing units import).
	Units     *unitstock.Stock
	Audit     *audit.Log
	Catalog   *locale.Catalog
	Validator *validate.Validator
	Registry  *workflow.Registry
	Counties  *portal.Counties
	Server    *server.Server
	Now       func() time.Time
	// Outbox sends notices by SMS and email (serve runs it).
	Outbox *outbox.Worker
	// Signer signs certificates and verifies their tokens.
	Signer *certificate.Signer
	// Metrics are what operators watch (Prometheus).
	Metrics *metrics.Metrics
}

// Open wires a portal. On error everything opened is closed again.
func Open(ctx context.Context, cfg *config.Config, o Options) (p *Portal, err error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.RedisPrefix == "" {
		o.RedisPrefix = "tz:"
	}
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = cfg.DBPool
	}
	p = &Portal{Config: cfg, Logger: o.Logger, Now: o.Now, Metrics: metrics.New()}
	opened := p // "return nil, err" sets p to nil before this runs
	defer func() {
		if err != nil {
			opened.Close()
			p = nil
		}
	}()

	if p.DB, err = sqlstore.Open(ctx, cfg.DatabaseURL, sqlstore.Options{RoundTrips: o.DBRoundTrips, MaxOpenConns: o.MaxOpenConns,
		PgBouncer: cfg.PgBouncer}); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	p.Metrics.WatchDB(p.DB.SQL(), p.DB.Dialect())
	if cfg.PgBouncer {
		// A migration holds a session's advisory lock, which PgBouncer in
		// transaction mode cannot keep: migrate against PostgreSQL itself.
		if err := p.DB.CheckMigrated(ctx); err != nil {
			return nil, err
		}
	} else if o.Migrate {
		n, err := p.DB.Migrate(ctx)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			o.Logger.Info("migrated", "migrations", n, "dialect", p.DB.Dialect())
		}
	}

	// Policies, roles and the division tree.
	divList, err := p.DB.Divisions(ctx)
	if err != nil {
		return nil, err
	}
	if len(divList) == 0 {
		return nil, errors.New("the divisions table is empty: run \"portal migrate\"")
	}
	divs := portal.NewDivisions(divList)
	countyList, err := p.DB.Counties(ctx)
	if err != nil {
		return nil, err
	}
	p.Counties = portal.NewCounties(countyList)
	modelText, err := fs.ReadFile(policies.FS, "model.conf")
	if err != nil {
		return nil, err
	}
	policyCSV, err := fs.ReadFile(policies.FS, "policy.csv")
	if err != nil {
		return nil, err
	}
	if p.Authz, err = authz.New(string(modelText), policyCSV, divs); err != nil {
		return nil, err
	}
	roles, err := account.LoadRoles(policies.FS)
	if err != nil {
		return nil, err
	}
	policy, err := account.LoadPolicy(policies.FS)
	if err != nil {
		return nil, err
	}
	deadlines, err := workflow.LoadDeadlinePolicy(policies.FS, account.Names(roles))
	if err != nil {
		return nil, err
	}
	sampling, err := workflow.LoadSamplingPolicy(policies.FS)
	if err != nil {
		return nil, err
	}
	staffRoles := map[string]bool{}
	for name, r := range roles {
		if r.Kind == portal.KindStaff {
			staffRoles[name] = true
		}
	}
	statsPolicy, err := workflow.LoadStatsPolicy(policies.FS, staffRoles)
	if err != nil {
		return nil, err
	}

	// Validation, services, workflows.
	p.Validator = validate.New(validate.Options{
		Now: o.Now,
		IsLeafDivision: func(code string) bool {
			d, ok := p.Authz.Divisions().Get(code)
			return ok && d.Leaf()
		},
		IsCounty: func(code string) bool {
			_, ok := p.Counties.Get(code)
			return ok
		},
		PasswordMinLen:     policy.Password.MinLength,
		PasswordMinClasses: policy.Password.MinClasses,
	})
	sealer, err := pii.NewSealer(cfg.Key(config.KeyIDEncryption), cfg.Key(config.KeyIDIndex))
	if err != nil {
		return nil, err
	}
	deps := Deps{Validator: p.Validator, Sealer: sealer, Counties: p.Counties}
	svcs := Services(deps)
	workflowFiles, i18nFiles, templateFiles := []fs.FS{workflows.FS}, []fs.FS{i18n.FS}, []fs.FS(nil)
	for _, pl := range o.Plugins {
		svcs = append(svcs, pl.New(deps))
		for dir, list := range map[string]*[]fs.FS{"workflows": &workflowFiles, "i18n": &i18nFiles, "templates": &templateFiles} {
			sub, err := fs.Sub(pl.Files, dir)
			if err != nil {
				return nil, err
			}
			*list = append(*list, sub)
		}
	}
	if p.Registry, err = workflow.NewRegistry(account.Names(roles), svcs, workflowFiles...); err != nil {
		return nil, err
	}
	cal, err := workflow.LoadCalendar(workflows.FS)
	if err != nil {
		return nil, err
	}
	if err := p.Authz.AddPolicies(p.Registry.Policies()); err != nil {
		return nil, err
	}
	p.Audit = audit.New(cfg.Key(config.KeyAudit), o.Now)
	var store portal.Store = p.DB
	if o.WrapStore != nil {
		store = o.WrapStore(store)
	}
	if p.Catalog, err = locale.Load(i18nFiles...); err != nil {
		return nil, err
	}
	if p.Signer, err = certificate.NewSigner(cfg.Secret, cfg.CertKey); err != nil {
		return nil, err
	}
	chans, err := senders(cfg, o.Logger)
	if err != nil {
		return nil, err
	}
	_, email := chans[outbox.ChannelEmail]
	if p.Engine, err = workflow.NewEngine(workflow.Config{Registry: p.Registry, Store: store, Authz: p.Authz, Audit: p.Audit,
		Calendar: cal, Validator: p.Validator, Now: o.Now, Log: o.Logger, Files: Files(cfg),
		Notifier:  &outbox.Outbox{Catalog: p.Catalog, Email: email},
		Certifier: certifier{signer: p.Signer, sealer: sealer, zone: cal.Zone}, Deadline: deadlines, Sampling: sampling, Stats: statsPolicy,
		Observer: p.Metrics}); err != nil {
		return nil, err
	}
	p.Outbox = &outbox.Worker{Store: store, Senders: chans, Now: o.Now, Log: o.Logger, Observer: p.Metrics}
	p.Metrics.WatchQueues(store, o.Now)
	// Cases waiting in listed states from before their service kept lists
	// join them (nothing to do, one indexed read, once they have).
	if n, err := p.Engine.ListUnlisted(ctx); err != nil {
		return nil, err
	} else if n > 0 {
		o.Logger.Info("cases entered on their services' lists", "cases", n)
	}
	// The dashboards' rollups, on a database from before they existed,
	// are built from the cases' timelines once (in one transaction that
	// transitions on other nodes wait for).
	if n, built, err := p.Engine.RebuildStatsIfNew(ctx); err != nil {
		return nil, err
	} else if built {
		o.Logger.Info("dashboards' rollups built from the cases", "cases", n)
	}

	// Sessions: Redis when configured, else in-process.
	sopts := session.Options{
		Idle:     time.Duration(policy.Session.IdleMinutes) * time.Minute,
		Absolute: time.Duration(policy.Session.AbsoluteHours) * time.Hour,
		Now:      o.Now,
	}
	if cfg.RedisURL != "" {
		client, err := redisstore.Dial(ctx, cfg.RedisURL, redisstore.DialOptions{RoundTrips: o.RedisRoundTrips})
		if client != nil {
			p.Redis = client
			p.Metrics.WatchRedis(client)
		}
		if err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		// Every key carries the installation's id: two databases that
		// share a Redis never share a key (a user id repeats across them).
		inst, err := store.Installation(ctx)
		if err != nil {
			return nil, fmt.Errorf("the installation's id: %w", err)
		}
		rs := redisstore.NewSessions(client, o.RedisPrefix+inst+":", sopts)
		p.Sessions, p.Failures = rs, rs.Counter()
	} else {
		o.Logger.Warn("REDIS_URL is not set: sessions and login counters are kept in this process (one node only; all sessions end when it restarts)")
		m := session.NewMemory(sopts)
		p.Sessions, p.Failures = m, m.Counter()
	}

	p.Accounts = &account.Accounts{Store: store, Sealer: sealer, Validator: p.Validator, Audit: p.Audit, Failures: p.Failures,
		Authz: p.Authz, Policy: policy, Roles: roles, Now: o.Now, Sessions: p.Sessions,
		StaffMFA: cfg.StaffMFA, TOTPKey: cfg.Key(config.KeyTOTP), Observer: p.Metrics}

	ratingPolicy, err := rating.LoadPolicy(policies.FS)
	if err != nil {
		return nil, err
	}
	p.Ratings = &rating.Ratings{Engine: p.Engine, Policy: ratingPolicy, Authz: p.Authz, Catalog: p.Catalog}
	// The administration's changes of the division tree and the calendar,
	// over what was loaded above. A tool on a database not yet migrated to
	// keep them (migration 00027) goes on with what it has.
	p.Tree = &division.Tree{Store: store, Audit: p.Audit, Authz: p.Authz, Now: o.Now}
	if err := p.Tree.Reload(ctx); err != nil {
		o.Logger.Warn("the division tree's changes are not read", "err", err)
	}
	if err := p.Engine.ReloadCalendar(ctx); err != nil {
		o.Logger.Warn("the working-day calendar's changes are not read", "err", err)
	}
	p.Units = &unitstock.Stock{Store: store, Audit: p.Audit, Authz: p.Authz, Now: o.Now, Kinds: housing.Kinds()}

	p.Server, err = server.New(server.Deps{
		Store: store, Sessions: p.Sessions, Engine: p.Engine, Accounts: p.Accounts, Ratings: p.Ratings, Tree: p.Tree, Units: p.Units, Authz: p.Authz, Catalog: p.Catalog,
		Counties: p.Counties, Templates: templateFiles,
		Logger: o.Logger, Now: o.Now, CSRFKey: cfg.Key(config.KeyCSRF), TicketKey: cfg.Key(config.KeyLoginTicket),
		CookieSecure:   cfg.CookieSecure,
		TrustedProxies: cfg.TrustedProxies, Ready: p.Ready,
		PublicURL: cfg.PublicURL, Zone: cal.Zone, Signer: p.Signer,
		Counter: p.Failures, VerifyPerMinute: policy.Verify.PerMinute,
		Metrics: p.Metrics, MetricsToken: metricsOnApp(cfg),
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// metricsOnApp is the token that serves the metrics at /metrics of the
// portal's own address: only when they have no address of their own.
func metricsOnApp(cfg *config.Config) string {
	if cfg.MetricsAddr != "" {
		return ""
	}
	return cfg.MetricsToken
}

// Ready reports whether the database and the session store answer.
func (p *Portal) Ready(ctx context.Context) error {
	if err := p.DB.Ping(ctx); err != nil {
		return err
	}
	return p.Sessions.Ping(ctx)
}

// Close closes what Open opened. Shut the server down first.
func (p *Portal) Close() error {
	var errs []error
	if p.Redis != nil {
		errs = append(errs, p.Redis.Close())
	}
	if p.DB != nil {
		errs = append(errs, p.DB.Close())
	}
	return errors.Join(errs...)
}

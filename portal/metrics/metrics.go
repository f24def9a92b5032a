// Package metrics is what operators watch: Prometheus metrics of the
// requests, the workflows' transitions, the background jobs, the outbox,
// the database and Redis pools and the logins (prometheus/client_golang).
// They are served on their own address or behind a token, never publicly
// (PORTAL_METRICS_ADDR, PORTAL_METRICS_TOKEN). A nil *Metrics counts
// nothing, so packages may call it unconditionally.
package metrics

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"tzportal/portal"
)

const namespace = "tzportal"

// Metrics holds the portal's collectors in a registry of its own (no
// process-global state: two portals in one test process never mix).
type Metrics struct {
	Registry    *prometheus.Registry
	requests    *prometheus.HistogramVec
	transitions *prometheus.CounterVec
	jobLag      *prometheus.HistogramVec
	jobFailures *prometheus.CounterVec
	logins      *prometheus.CounterVec
	lockouts    prometheus.Counter
}

// New makes the collectors and registers them, with the Go runtime's and
// the process's own.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "http_request_duration_seconds",
		Help: "Time to answer an HTTP request, by route (the pattern, never the path), method and status.",
		// 1 ms … 10 s: a page is budgeted in milliseconds, the request
		// timeout is 10 s.
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})
	m.transitions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "transitions_total",
		Help: "Committed workflow steps, by service and event.",
	}, []string{"service", "event"})
	m.jobLag = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: namespace, Name: "job_lag_seconds",
		Help:    "How late a background job ran after it was due, by job (timer, outbox).",
		Buckets: []float64{.1, .5, 1, 5, 15, 30, 60, 120, 300, 900, 3600},
	}, []string{"job"})
	m.jobFailures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "job_failures_total",
		Help: "Background job runs that failed, by job (timers, outbox, retention, sampling, delivery).",
	}, []string{"job"})
	m.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: namespace, Name: "login_failures_total",
		Help: "Refused logins, by reason (wrong_password, unknown_login, locked, ip_throttled, disabled, wrong_code).",
	}, []string{"reason"})
	m.lockouts = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: namespace, Name: "lockouts_total",
		Help: "Accounts locked after too many wrong passwords.",
	})
	m.Registry.MustRegister(m.requests, m.transitions, m.jobLag, m.jobFailures, m.logins, m.lockouts,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request records one answered request.
func (m *Metrics) Request(route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, method, strconv.Itoa(status)).Observe(d.Seconds())
}

// Transition records a committed workflow step.
func (m *Metrics) Transition(service, event string) {
	if m == nil {
		return
	}
	m.transitions.WithLabelValues(service, event).Inc()
}

// JobRan records how late a job ran after it was due.
func (m *Metrics) JobRan(job string, lag time.Duration) {
	if m == nil {
		return
	}
	m.jobLag.WithLabelValues(job).Observe(max(0, lag.Seconds()))
}

// JobFailed records a failed run of a background job.
func (m *Metrics) JobFailed(job string) {
	if m == nil {
		return
	}
	m.jobFailures.WithLabelValues(job).Inc()
}

// LoginFailed records a refused login.
func (m *Metrics) LoginFailed(reason string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(reason).Inc()
}

// LockedOut records an account locked by too many wrong passwords.
func (m *Metrics) LockedOut() {
	if m == nil {
		return
	}
	m.lockouts.Inc()
}

// WatchDB exports the database pool's statistics (open, in use, idle,
// waits) under db="name".
func (m *Metrics) WatchDB(db *sql.DB, name string) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// WatchRedis exports the Redis client's pool statistics.
func (m *Metrics) WatchRedis(c *redis.Client) {
	gauge := func(name, help string, f func(*redis.PoolStats) uint32) {
		m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "redis_pool", Name: name, Help: help},
			func() float64 { return float64(f(c.PoolStats())) }))
	}
	counter := func(name, help string, f func(*redis.PoolStats) uint32) {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: namespace, Subsystem: "redis_pool", Name: name, Help: help},
			func() float64 { return float64(f(c.PoolStats())) }))
	}
	gauge("connections", "Connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.TotalConns })
	gauge("idle_connections", "Idle connections in the Redis pool.", func(s *redis.PoolStats) uint32 { return s.IdleConns })
	counter("hits_total", "Times a free connection was found in the pool.", func(s *redis.PoolStats) uint32 { return s.Hits })
	counter("misses_total", "Times no free connection was found in the pool.", func(s *redis.PoolStats) uint32 { return s.Misses })
	counter("timeouts_total", "Times a wait for a connection timed out.", func(s *redis.PoolStats) uint32 { return s.Timeouts })
}

// WatchQueues exports the outbox's depth and the timers that are due, read
// from the database at each scrape (two indexed counts).
func (m *Metrics) WatchQueues(store portal.Reader, now func() time.Time) {
	m.Registry.MustRegister(&queues{store: store, now: now})
}

var (
	outboxDesc = prometheus.NewDesc(namespace+"_outbox_pending", "Notices waiting to be sent by SMS or email (the outbox's depth).", nil, nil)
	dueDesc    = prometheus.NewDesc(namespace+"_timers_due", "Timers that are due and have not run.", nil, nil)
	oldestDesc = prometheus.NewDesc(namespace+"_timers_oldest_due_seconds", "How long the oldest due timer has waited (0: none waits).", nil, nil)
	upDesc     = prometheus.NewDesc(namespace+"_queues_up", "1 if the queues' depths could be read from the database.", nil, nil)
)

type queues struct {
	store portal.Reader
	now   func() time.Time
}

func (q *queues) Describe(ch chan<- *prometheus.Desc) {
	ch <- outboxDesc
	ch <- dueDesc
	ch <- oldestDesc
	ch <- upDesc
}

func (q *queues) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := q.now()
	d, err := q.store.QueueDepth(ctx, now)
	if err != nil {
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(outboxDesc, prometheus.GaugeValue, float64(d.OutboxPending))
	ch <- prometheus.MustNewConstMetric(dueDesc, prometheus.GaugeValue, float64(d.TimersDue))
	oldest := 0.0
	if d.OldestDue != nil {
		oldest = max(0, now.Sub(*d.OldestDue).Seconds())
	}
	ch <- prometheus.MustNewConstMetric(oldestDesc, prometheus.GaugeValue, oldest)
}

// Handler serves the metrics in Prometheus's text format; with a token, a
// scrape without "Authorization: Bearer <token>" gets 401.
func (m *Metrics) Handler(token string) http.Handler {
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="metrics"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

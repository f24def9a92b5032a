package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// phase is the outcome of one measured run of one side.
type phase struct {
	Ops      int64 // completed operations
	Errors   int64
	Elapsed  time.Duration
	Lat      []time.Duration // one per operation
	DB, Rd   int64           // round trips counted during the phase
	FirstErr string
	// CPU time used during the phase: by the whole machine, and by this
	// process (the portal and the load generator), in seconds.
	MachineCPU, ProcessCPU float64
}

func (p *phase) Rate() float64 { return float64(p.Ops) / p.Elapsed.Seconds() }

// closedLoop runs op in c workers, each starting its next operation when
// the last one ended, until dur has passed; it then waits for the
// operations in flight. Throughput is completed ÷ elapsed.
func closedLoop(ctx context.Context, c int, dur time.Duration, op func(ctx context.Context, w int) error) *phase {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      = &phase{}
		errs     atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	deadline := start.Add(dur)
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 4096)
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(deadline) {
					break
				}
				err := op(ctx, w)
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					if err == errExhausted {
						break
					}
				}
			}
			mu.Lock()
			res.Lat = append(res.Lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.Ops = int64(len(res.Lat))
	res.Errors = errs.Load()
	if v := firstErr.Load(); v != nil {
		res.FirstErr = v.(string)
	}
	return res
}

var errExhausted = fmt.Errorf("the pool of submitted cases is used up (seed more: -cases, or shorter phases)")

// measure runs a closed loop against a portal, counting its round trips,
// and writes a CPU profile of the phase if asked.
func measure(ctx context.Context, o *options, in *instance, dur time.Duration, profile string, op func(ctx context.Context, w int) error) *phase {
	defer startProfile(o, profile)()
	var db0, rd0 int64
	if in != nil {
		db0, rd0 = in.DBTrips.Load(), in.RedisTrip.Load()
	}
	p := closedLoop(ctx, o.c, dur, op)
	if in != nil {
		p.DB, p.Rd = in.DBTrips.Load()-db0, in.RedisTrip.Load()-rd0
	}
	return p
}

// startProfile starts a CPU profile of a measured phase named profile if
// -cpuprofile asks for profiles (and profile is not ""); the function it
// returns stops it.
func startProfile(o *options, profile string) (stop func()) {
	if profile == "" || o.cpuprofile == "" {
		return func() {}
	}
	f, err := os.Create(o.cpuprofile + "." + profile + ".pprof")
	if err == nil {
		if err = pprof.StartCPUProfile(f); err == nil {
			return func() { pprof.StopCPUProfile(); f.Close() }
		}
		f.Close()
	}
	fmt.Fprintln(os.Stderr, "loadtest: cpuprofile:", err)
	return func() {}
}

func percentile(lat []time.Duration, q float64) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// client is the load generator's HTTP client: keep-alive connections
// sized to the concurrency.
func newHTTPClient(c int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			MaxIdleConns:        4 * c,
			MaxIdleConnsPerHost: 2 * c,
			IdleConnTimeout:     5 * time.Minute,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
}

// clientSession is one logged-in client: its cookie and CSRF token.
type clientSession struct {
	Cookie string // "tz_session=…"
	CSRF   string
	UserID int64
}

// request sends one request, with a JSON body if any, and checks the
// status; it returns the response's Location header (for a created case).
func request(ctx context.Context, hc *http.Client, method, url string, s *clientSession, body []byte, want int) (string, error) {
	return send(ctx, hc, method, url, s, body, "application/json", want)
}

// send is request with a body of contentType.
func send(ctx context.Context, hc *http.Client, method, url string, s *clientSession, body []byte, contentType string, want int) (string, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return "", err
	}
	if s != nil {
		req.Header.Set("Cookie", s.Cookie)
		if method != http.MethodGet {
			req.Header.Set("X-CSRF-Token", s.CSRF)
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return "", fmt.Errorf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, bytes.TrimSpace(b))
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	return resp.Header.Get("Location"), nil
}

// login logs in over the API and returns the session cookie and CSRF token.
func login(ctx context.Context, hc *http.Client, base, who string) (*clientSession, error) {
	body, _ := json.Marshal(map[string]string{"login": who, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/session", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("login %s: %d %s", who, resp.StatusCode, b)
	}
	var doc struct {
		CSRF string `json:"csrf_token"`
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("login %s: %w", who, err)
	}
	s := &clientSession{CSRF: doc.CSRF, UserID: doc.User.ID}
	for _, c := range resp.Cookies() {
		if c.Name == "tz_session" || c.Name == "__Host-tz_session" {
			s.Cookie = c.Name + "=" + c.Value
		}
	}
	if s.Cookie == "" || s.CSRF == "" {
		return nil, fmt.Errorf("login %s: no session cookie or CSRF token", who)
	}
	return s, nil
}

// loginAll logs each worker in. The portal allows 100 login attempts a
// minute from one address, so at most maxLogins distinct sessions are
// made per list and workers beyond share them round robin.
func loginAll(ctx context.Context, hc *http.Client, base string, who func(w int) string, workers, maxLogins int) ([]*clientSession, error) {
	out := make([]*clientSession, workers)
	for w := 0; w < workers; w++ {
		if w >= maxLogins {
			out[w] = out[w%maxLogins]
			continue
		}
		s, err := login(ctx, hc, base, who(w))
		if err != nil {
			return nil, err
		}
		out[w] = s
	}
	return out, nil
}

// cpuTimes returns the busy CPU seconds of the machine (all cores, from
// /proc/stat) and of this process (getrusage).
func cpuTimes() (machine, process float64) {
	if b, err := os.ReadFile("/proc/stat"); err == nil {
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) > 8 && f[0] == "cpu" {
			for i, v := range f[1:9] {
				if i == 3 || i == 4 { // idle, iowait
					continue
				}
				n, _ := strconv.ParseFloat(v, 64)
				machine += n / 100 // USER_HZ
			}
		}
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		process = time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	}
	return machine, process
}

// timed runs one phase and records the CPU it took.
func timed(run func() *phase) *phase {
	m0, p0 := cpuTimes()
	p := run()
	m1, p1 := cpuTimes()
	p.MachineCPU, p.ProcessCPU = m1-m0, p1-p0
	return p
}

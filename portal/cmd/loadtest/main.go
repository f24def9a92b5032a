// Command loadtest measures the portal against the limits of its own
// machine (issue 5, DESIGN §10): it creates a fresh database and Redis key
// space, starts the portal in this process (GOMAXPROCS=2) through boot.Open,
// seeds a million cases, and runs each scenario interleaved with its
// baseline (A B A B …) at the same concurrency, printing one RESULT line per
// scenario with the median ratio of the pairs.
//
//	go run ./portal/cmd/loadtest            # PostgreSQL, 1,000,000 cases
//	go run ./portal/cmd/loadtest -quick     # about two minutes, 100,000 cases
//	go run ./portal/cmd/loadtest -db sqlite # the SQLite scenarios
//
// DATABASE_URL names the PostgreSQL server (a database tzload_<random> is
// created there and dropped at the end unless -keep); REDIS_URL the Redis
// (keys under load:<random>: are deleted at the end). The exit status is 1
// when a scenario misses its target or had errors.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

type options struct {
	quick      bool
	db         string
	cases      int
	small      int
	c          int
	pairs      int
	phase      time.Duration
	warmup     time.Duration
	keep       bool
	cpuprofile string
	only       map[string]bool // -only: run these scenarios only
	pool       int             // the portal's database pool (MaxOpenConns)
	out        io.Writer       // where the report goes
	// For tests: the name suffix of the databases and keys (default
	// random), and a look at the loaded database (its URL) and the results
	// before the database is dropped.
	suffix  string
	inspect func(dbURL string, results []result) error
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout))
}

// run parses the flags, runs the scenarios, prints the report to out and
// returns the exit status: 0 when every scenario met its target without
// errors, 1 otherwise, 2 for bad flags.
func run(args []string, out io.Writer) int {
	o := &options{out: out}
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.BoolVar(&o.quick, "quick", false, "a run of about two minutes: 100,000 cases, 3 s phases")
	fs.StringVar(&o.db, "db", "postgres", "postgres or sqlite")
	fs.IntVar(&o.cases, "cases", 0, "cases to seed (default 1,000,000; 100,000 with -quick)")
	fs.IntVar(&o.small, "small-cases", 10000, "cases in the second database of worklist_scaling")
	fs.IntVar(&o.c, "c", 16, "concurrency: workers (each with its own session) and pgbench clients")
	fs.IntVar(&o.pool, "pool", 0, "the portal's database pool, boot.Options.MaxOpenConns (default: the portal's own default)")
	fs.IntVar(&o.pairs, "pairs", 3, "measured pairs (scenario, baseline) per scenario")
	fs.DurationVar(&o.phase, "phase", 0, "duration of each measured phase (default 8s; 3s with -quick)")
	fs.DurationVar(&o.warmup, "warmup", -1, "warm-up of each side before the pairs (default 2s; 1s with -quick)")
	fs.BoolVar(&o.keep, "keep", false, "keep the databases (and the SQLite directory)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of each measured portal phase to `prefix`.<scenario>-<pair>.pprof")
	only := fs.String("only", "", "comma-separated scenarios to run (default all)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *only != "" {
		o.only = map[string]bool{}
		for _, n := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(n)] = true
		}
	}
	if o.cases == 0 {
		o.cases = 1000000
		if o.quick {
			o.cases = 100000
		}
	}
	if o.phase == 0 {
		o.phase = 8 * time.Second
		if o.quick {
			o.phase = 3 * time.Second
		}
	}
	if o.warmup < 0 {
		o.warmup = 2 * time.Second
		if o.quick {
			o.warmup = time.Second
		}
	}
	if o.pairs < 3 || o.c < 1 || o.cases < 20000 || (o.db != "postgres" && o.db != "sqlite") {
		fmt.Fprintln(os.Stderr, "loadtest: want -pairs ≥ 3, -c ≥ 1, -cases ≥ 20000 and -db postgres|sqlite")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	results, err := execute(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		return 1
	}
	for _, r := range results {
		if !r.ok {
			return 1
		}
	}
	return 0
}

// execute runs the scenarios of o and prints the report to o.out.
func execute(ctx context.Context, o *options) ([]result, error) {
	runtime.GOMAXPROCS(2) // the portal's and the load's share of the machine, as on CI
	start := time.Now()
	e := newEnv(o)
	pool := "default"
	if o.pool > 0 {
		pool = fmt.Sprint(o.pool)
	}
	fmt.Fprintf(o.out, "# loadtest: db=%s cases=%d c=%d pairs=%d phase=%s warmup=%s pool=%s GOMAXPROCS=%d NumCPU=%d %s\n",
		o.db, o.cases, o.c, o.pairs, o.phase, o.warmup, pool, runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version())
	var (
		results []result
		seeding time.Duration
		err     error
	)
	if o.db == "postgres" {
		results, seeding, err = runPostgres(ctx, e)
	} else {
		results, seeding, err = runSQLite(ctx, e)
	}
	e.cleanup()
	if err != nil {
		return results, err
	}
	fmt.Fprintf(o.out, "# peak RSS (VmHWM) %s (now: anonymous %s, file-backed %s); seeding %.1f s; wall %.1f s\n",
		procStatus("VmHWM"), procStatus("RssAnon"), procStatus("RssFile"), seeding.Seconds(), time.Since(start).Seconds())
	return results, nil
}

// procStatus reads a field of /proc/self/status (VmHWM: the peak resident
// set; RssAnon: heap and stacks; RssFile: mapped files, which for SQLite is
// its mmap of the database, counted once per connection mapping it).
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

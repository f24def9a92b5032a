package main

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// poolRate is the transitions a second the HTTP transition pool is sized
// for, on either database (with a 1.5 margin); a pool that runs out is
// reported as an error.
const poolRate = 1200

func runPostgres(ctx context.Context, e *env) ([]result, time.Duration, error) {
	o := e.o
	dbName := "tzload_" + e.suffix
	bigURL, err := e.createDatabase(ctx, dbName)
	if err != nil {
		return nil, 0, err
	}
	prefix, err := e.redisPrefix(ctx, "big")
	if err != nil {
		return nil, 0, err
	}
	big, err := e.startPortal(ctx, bigURL, prefix)
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(o.out, "# database %s, Redis prefix %q\n", dbName, prefix)

	t0 := time.Now()
	d, err := setup(ctx, e, big, o.cases, true, poolRate, func(ctx context.Context, w *world) error {
		return seedPostgres(ctx, bigURL, w)
	})
	if err != nil {
		return nil, 0, err
	}
	seeding := time.Since(t0)
	fmt.Fprintf(o.out, "# seeded %d cases (%d applicants, %d submitted for HTTP transitions, %d for pgbench%s) in %.1f s\n",
		o.cases, d.world.Applicants, d.world.TransPerDiv*len(d.world.A), d.world.BaselinePool, cohortNote(d.world)+drawNote(d.world), seeding.Seconds())

	// The second portal of worklist_scaling: the same divisions, few cases.
	smallURL, err := e.createDatabase(ctx, dbName+"_small")
	if err != nil {
		return nil, 0, err
	}
	sprefix, err := e.redisPrefix(ctx, "small")
	if err != nil {
		return nil, 0, err
	}
	small, err := e.startPortal(ctx, smallURL, sprefix)
	if err != nil {
		return nil, 0, err
	}
	t1 := time.Now()
	ds, err := setup(ctx, e, small, o.small, false, 0, func(ctx context.Context, w *world) error {
		return seedPostgres(ctx, smallURL, w)
	})
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(o.out, "# seeded %d cases in the second database in %.1f s\n", o.small, time.Since(t1).Seconds())

	hc := newHTTPClient(o.c)
	if err := d.login(ctx, o, hc, true, true); err != nil {
		return nil, 0, err
	}
	if err := ds.login(ctx, o, hc, false, false); err != nil {
		return nil, 0, err
	}
	bareURL, err := e.startBare(big.Sessions)
	if err != nil {
		return nil, 0, err
	}

	dir, err := os.MkdirTemp("", "tzload-pgbench-")
	if err != nil {
		return nil, 0, err
	}
	e.defer_(func() { os.RemoveAll(dir) })
	clerk := d.transition[0].UserID
	hash := fmt.Sprintf("%064x", 0xabcdef)
	// The notices' texts, for case numbers of the usual length.
	accepted, err := big.notice("accept", "TZRP"+baselineDay+"000001", "王建国")
	if err != nil {
		return nil, 0, err
	}
	submitted, err := big.notice("submit", "TZRP"+pgbenchSubmitDay+"000001", "王建国")
	if err != nil {
		return nil, 0, err
	}
	trans, err := newPgbench(dir, bigURL, o.c, "transition", transitionScript, map[string]string{
		"pool": strconv.Itoa(d.world.BaselinePool), "actor": strconv.FormatInt(clerk, 10), "actorname": "user:" + strconv.FormatInt(clerk, 10),
		"role": "street_clerk", "event": "accept", "action": "case.accept", "fromstate": "submitted", "tostate": "reviewing",
		"detail": `{"from":"submitted","to":"reviewing","version":3}`, "hash": hash, "root": big.Authz.Divisions().Root,
		"tkind": accepted.kind, "ttitle": accepted.title, "tbody": accepted.body, "tsms": accepted.sms,
	})
	if err != nil {
		return nil, 0, err
	}
	stored, err := storedUpload()
	if err != nil {
		return nil, 0, err
	}
	div := d.world.A[0]
	sub, err := newPgbench(dir, bigURL, o.c, "submit", submitScript, map[string]string{
		"skind": submitted.kind, "stitle": submitted.title, "sbody": submitted.body, "ssms": submitted.sms,
		"blob": `\x` + hex.EncodeToString(stored), "size": strconv.Itoa(len(stored)), "sha": sha256Hex(stored),
		// pgbench client k is the fresh applicant after the HTTP workers' k-th.
		"afirst":  strconv.FormatInt(d.world.applicantID(d.world.HTTPApplicants), 10),
		"counter": caseCounter, "period": pgbenchSubmitDay, "service": serviceID, "itemcode": itemCode,
		"granted": "approved", "grantlimit": "20", "claimprefix": claimPrefix,
		"div": div, "dist": d.world.district[div], "hash": hash, "root": big.Authz.Divisions().Root,
		"form":    `{"division":"` + div + `","address":"海陵区东进东路18号3幢201室","resided_since":"2024-03-01","basis":"employment","basis_detail":"泰州市某机械有限公司","phone":"13912345678"}`,
		"detail1": `{"from":"","to":"draft","version":1}`, "detail2": `{"from":"draft","to":"submitted","version":2}`,
		"detail3": `{"from":"submitted","to":"withdrawn","version":3}`,
	})
	if err != nil {
		return nil, 0, err
	}
	pgSide := func(b *pgbench, unit, per string, statements float64) side {
		return side{name: "pgbench", unit: unit, per: per, dbPerOp: statements,
			run: func(ctx context.Context, dur time.Duration, _ string) *phase { return b.run(ctx, dur) }}
	}

	scenarios := readScenarios(o, hc, d, bareURL)
	scenarios = append(scenarios,
		scaling("worklist_scaling", "/cases", "", o, hc, d, ds, d.readers, ds.readers),
		scaling("overview_scaling", "/oversight/stats", " (the overview page, its default range)", o, hc, d, ds, d.supervisors, ds.supervisors),
		scenario{name: "transition", target: 0.5, a: transitionSide(o, hc, d), b: pgSide(trans, "tx/s", "tx", transitionStatements)},
		scenario{name: "submit", target: 0.5, a: submitSide(o, hc, d), b: pgSide(sub, "op/s", "op", float64(submitStatements)),
			note: fmt.Sprintf("one op = create + %d uploads (%s) + submit + withdraw (%d requests; %d transactions in pgbench)",
				len(keyItems), strings.Join(keyItems[:], ", "), len(keyItems)+3, len(keyItems)+3)},
		allocationCore(o),
	)
	if d.world.cohortWorld != nil {
		scenarios = append(scenarios, allocationWrites(o, d))
	}
	if d.world.drawWorld != nil {
		scenarios = append(scenarios, drawScenario(o, d, hc))
	}
	results, err := runScenarios(ctx, o, scenarios, bigURL)
	return results, seeding, err
}

// scaling is a page's p50 on the small portal ÷ on the big one: whether
// it stays as fast with a hundred times the cases.
func scaling(name, path, what string, o *options, hc *http.Client, big, small *deployment, bigSess, smallSess []*clientSession) scenario {
	return scenario{name: name, target: 0.67,
		a: portalSide(o, fmt.Sprintf("%d cases", o.cases), "req/s", "req", big.in, get(hc, bigSess, func(int) string { return big.in.URL + path })),
		b: portalSide(o, fmt.Sprintf("%d cases", o.small), "req/s", "req", small.in, get(hc, smallSess, func(int) string { return small.in.URL + path })),
		ratio: func(a, b *phase) float64 {
			return float64(percentile(b.Lat, 0.5)) / float64(percentile(a.Lat, 0.5))
		},
		note: fmt.Sprintf("value = p50 with %d cases ÷ p50 with %d%s", o.small, o.cases, what)}
}

func runSQLite(ctx context.Context, e *env) ([]result, time.Duration, error) {
	o := e.o
	dir, err := os.MkdirTemp("", "tzload-sqlite-")
	if err != nil {
		return nil, 0, err
	}
	e.defer_(func() {
		if o.keep {
			fmt.Fprintf(o.out, "# kept %s\n", dir)
			return
		}
		os.RemoveAll(dir)
	})
	path := filepath.Join(dir, "portal.db")
	prefix, err := e.redisPrefix(ctx, "sqlite")
	if err != nil {
		return nil, 0, err
	}
	in, err := e.startPortal(ctx, "sqlite:"+path, prefix)
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(o.out, "# database %s, Redis prefix %q\n", path, prefix)
	t0 := time.Now()
	d, err := setup(ctx, e, in, o.cases, true, poolRate, func(ctx context.Context, w *world) error {
		return seedSQLite(ctx, in.DB.SQL(), w)
	})
	if err != nil {
		return nil, 0, err
	}
	seeding := time.Since(t0)
	fmt.Fprintf(o.out, "# seeded %d cases (%d applicants, %d submitted for HTTP transitions, %d for the Go loop%s) in %.1f s\n",
		o.cases, d.world.Applicants, d.world.TransPerDiv*len(d.world.A), d.world.BaselinePool, cohortNote(d.world)+drawNote(d.world), seeding.Seconds())

	hc := newHTTPClient(o.c)
	if err := d.login(ctx, o, hc, true, false); err != nil {
		return nil, 0, err
	}
	bareURL, err := e.startBare(in.Sessions)
	if err != nil {
		return nil, 0, err
	}
	accepted, err := in.notice("accept", "TZRP"+baselineDay+"000001", "王建国")
	if err != nil {
		return nil, 0, err
	}
	loop, err := openSQLiteLoop(path, d.world.BaselinePool, d.transition[0].UserID, accepted, in.Engine.Calendar.Zone, in.Authz.Divisions().Root)
	if err != nil {
		return nil, 0, err
	}
	e.defer_(func() { loop.Close() })
	rngs := newRands(o.c)
	goLoop := side{name: "Go loop", unit: "tx/s", per: "tx", dbPerOp: loopStatements,
		run: func(ctx context.Context, dur time.Duration, _ string) *phase {
			return closedLoop(ctx, o.c, dur, func(ctx context.Context, w int) error { return loop.tx(ctx, rngs[w]) })
		}}
	scenarios := readScenarios(o, hc, d, bareURL)
	scenarios = append(scenarios, scenario{name: "sqlite_transition", target: 0.5, a: transitionSide(o, hc, d), b: goLoop})
	if d.world.cohortWorld != nil {
		scenarios = append(scenarios, allocationWrites(o, d))
	}
	if d.world.drawWorld != nil {
		scenarios = append(scenarios, drawScenario(o, d, hc))
	}
	results, err := runScenarios(ctx, o, scenarios, "sqlite:"+path)
	return results, seeding, err
}

// runScenarios runs the scenarios -only names (all by default), then lets a
// test inspect the loaded database at dbURL before it is dropped.
func runScenarios(ctx context.Context, o *options, scenarios []scenario, dbURL string) ([]result, error) {
	var results []result
	for _, s := range scenarios {
		if ctx.Err() != nil {
			return results, ctx.Err()
		}
		if o.only != nil && !o.only[s.name] {
			continue
		}
		results = append(results, runScenario(ctx, o, s))
	}
	if o.inspect != nil {
		if err := o.inspect(dbURL, results); err != nil {
			return results, err
		}
	}
	return results, nil
}

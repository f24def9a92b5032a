package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"tzportal/portal"
	"tzportal/portal/boot"
	"tzportal/portal/schooling"
)

// schoolsImport reads a schools file (schooling.SchoolsHeader) and stores
// it; a bad row refuses the whole file, naming its line.
func schoolsImport(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	return importCSV(ctx, "schools import", args, stdout, logger, getenv, func(p *boot.Portal, f io.Reader) (string, error) {
		rows, err := schooling.ParseSchools(f, p.Authz.Divisions())
		if err == nil {
			err = schooling.ImportSchools(ctx, p.Engine, cliActor(), rows)
		}
		return fmt.Sprintf("%d school rows", len(rows)), err
	})
}

// importCSV is the frame of a command that imports one CSV file: it opens
// the file and the portal, runs load (which parses and stores the rows, all
// or none, and says what it imported), and reports.
func importCSV(ctx context.Context, cmd string, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string,
	load func(p *boot.Portal, f io.Reader) (string, error)) (int, error) {
	if len(args) != 1 {
		return 2, fmt.Errorf("%s needs one FILE.csv", cmd)
	}
	f, err := os.Open(args[0])
	if err != nil {
		return 1, err
	}
	defer f.Close()
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	what, err := load(p, f)
	if err != nil {
		return 1, fmt.Errorf("%s: %w (nothing imported)", args[0], err)
	}
	fmt.Fprintf(stdout, "imported %s from %s\n", what, args[0])
	return 0, nil
}

// schoolingWindow sets a district's enrollment window for a year.
func schoolingWindow(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("schooling window", flag.ContinueOnError)
	var w portal.EnrollmentWindow
	fs.StringVar(&w.District, "district", "", "6-digit district code")
	fs.IntVar(&w.Year, "year", 0, "school year, e.g. 2027")
	fs.StringVar(&w.Opens, "opens", "", "first day applications are taken (YYYY-MM-DD)")
	fs.StringVar(&w.Closes, "closes", "", "last day applications are taken (YYYY-MM-DD)")
	fs.IntVar(&w.PublicationDays, "publication-days", 0, "days the list is on public notice (default 5)")
	fs.IntVar(&w.AppealDays, "appeal-days", 0, "working days to appeal after publication (default 5)")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if w.District == "" || w.Year == 0 || w.Opens == "" || w.Closes == "" {
		return 2, errors.New("schooling window needs --district, --year, --opens and --closes")
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	if err := schooling.SetWindow(ctx, p.Engine, cliActor(), w); err != nil {
		return 1, describe(p, err)
	}
	fmt.Fprintf(stdout, "enrollment window of %s for %d: %s to %s\n", w.District, w.Year, w.Opens, w.Closes)
	return 0, nil
}

// schoolingAllocate runs the allocation of a published list.
func schoolingAllocate(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	fs := flag.NewFlagSet("schooling allocate", flag.ContinueOnError)
	district := fs.String("district", "", "6-digit district code")
	year := fs.Int("year", 0, "school year")
	grade := fs.String("grade", "", "entry grade: 1 or 7")
	seed := fs.String("seed", "", "the tie-break seed whose commitment the list published (lowercase hex)")
	if err := fs.Parse(args); err != nil {
		return 2, nil
	}
	if *district == "" || *year == 0 || *grade == "" || *seed == "" {
		return 2, errors.New("schooling allocate needs --district, --year, --grade and --seed")
	}
	p, code, err := openTool(ctx, logger, getenv, true)
	if err != nil {
		return code, err
	}
	defer p.Close()
	co, sum, err := schooling.Allocate(ctx, p.Engine, cliActor(), schooling.CohortRequest{District: *district, Year: *year, Grade: *grade, Seed: *seed})
	if err != nil {
		return 1, describe(p, err)
	}
	fmt.Fprintf(stdout, "allocation %d: %d children, %d assigned (%d first choice, %d within their top 3), %d unassigned\n",
		co.ID, sum.Children, sum.Assigned, sum.FirstChoice, sum.Top3, sum.Unassigned)
	return 0, nil
}

// describe spells out a refusal for the terminal, as the portal says it
// (in English) — the rule's sentence and each field's — with the rule's id.
func describe(p *boot.Portal, err error) error {
	pe := portal.AsError(err)
	if pe == nil {
		return err
	}
	l := p.Catalog.L("en")
	msg := l.Error(pe)
	if pe.Rule != "" {
		msg += " (rule " + pe.Rule + ")"
	}
	for _, f := range pe.Fields {
		msg += "; " + f.Field + ": " + l.Field(f, pe.Labels)
	}
	return errors.New(msg)
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"tzportal/portal/boot"
	"tzportal/portal/lottery"
)

// drawPageRE is a draw's public page; its JSON is the API's.
var drawPageRE = regexp.MustCompile(`^/draws/(\d+)/?$`)

// verifyDraw recomputes a published housing draw (its JSON at a URL or in
// a file) and says whether everything in it matches: exit 0, or 1 naming
// the first difference. It needs no database and no secret: anyone may run
// it.
func verifyDraw(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	if len(args) != 1 {
		return 2, errors.New("housing verify-draw needs one URL or FILE")
	}
	raw, err := readDraw(ctx, args[0])
	if err != nil {
		return 1, err
	}
	var d lottery.Draw
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if err := dec.Decode(&d); err != nil {
		return 1, fmt.Errorf("%s: not a draw: %w", args[0], err)
	}
	if err := lottery.Verify(&d); err != nil {
		fmt.Fprintf(stdout, "draw %d does NOT match: %v\n", d.ID, err)
		return 1, nil
	}
	if d.Status == lottery.StatusRevealed {
		fmt.Fprintf(stdout, "draw %d matches: %d participants, %d offers, final %s\n", d.ID, len(d.Participants), len(d.Offers), d.Final)
	} else {
		fmt.Fprintf(stdout, "draw %d (not revealed yet) matches: %d participants, participants_sha256 %s, merkle_root %s\n",
			d.ID, len(d.Participants), d.ParticipantsSHA256, d.MerkleRoot)
	}
	return 0, nil
}

// readDraw reads a draw's JSON from a file or an http(s) URL (a draw's
// page URL reads its API twin).
func readDraw(ctx context.Context, where string) ([]byte, error) {
	u, err := url.Parse(where)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return os.ReadFile(where)
	}
	if m := drawPageRE.FindStringSubmatch(u.Path); m != nil {
		u.Path = "/api/v1/draws/" + m[1]
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 256<<20))
}

// unitsImport reads a housing units file (unitstock.Header) and adds its
// units to the stock, available: a bad row, or a code already in the
// stock, refuses the whole file, naming its line.
func unitsImport(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger, getenv func(string) string) (int, error) {
	return importCSV(ctx, "housing units import", args, stdout, logger, getenv, func(p *boot.Portal, f io.Reader) (string, error) {
		rows, err := p.Units.Parse(f)
		if err == nil {
			err = p.Units.Import(ctx, cliActor(), rows)
		}
		return fmt.Sprintf("%d housing units", len(rows)), err
	})
}

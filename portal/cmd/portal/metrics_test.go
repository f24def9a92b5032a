package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"tzportal/portal/testkit"
)

// TestMetricsOnTheirOwnAddress: with PORTAL_METRICS_ADDR the metrics are
// served there only (behind the token when one is set), never on the
// portal's public address.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the binary")
	}
	bin := buildPortal(t)
	addr := freeAddr(t)
	const token = "metrics-token-0123456789abcdef0123456789"
	node := startPortal(t, bin, env{"DATABASE_URL": testkit.SQLite(t), "PORTAL_SECRET": testkit.NewSecret(), "PORTAL_COOKIE_SECURE": "off",
		"PORTAL_METRICS_ADDR": addr, "PORTAL_METRICS_TOKEN": token})
	get := func(url, auth string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	get(node.url+"/", "")
	if st, body := get(node.url+"/metrics", "Bearer "+token); st != http.StatusNotFound || strings.Contains(body, "tzportal_") {
		t.Errorf("/metrics on the public address: %d, want 404", st)
	}
	if st, _ := get("http://"+addr+"/metrics", ""); st != http.StatusUnauthorized {
		t.Errorf("a scrape without the token: %d, want 401", st)
	}
	st, body := get("http://"+addr+"/metrics", "Bearer "+token)
	if st != http.StatusOK || !strings.Contains(body, `tzportal_http_request_duration_seconds_count{method="GET",route="/",status="200"} 1`) {
		t.Errorf("a scrape with the token: %d\n%.2000s", st, body)
	}
}

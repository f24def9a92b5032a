package server_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestServerImportsNoService: the web layer knows services only through
// the registry, so a new service is its own files and no edit here. The
// project packages portal/server may depend on are listed; a service
// package (portal/residence, portal/hukou, …) among its dependencies fails.
func TestServerImportsNoService(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := []string{"tzportal/portal", "tzportal/portal/account", "tzportal/portal/audit", "tzportal/portal/authz",
		"tzportal/portal/certificate", "tzportal/portal/csvfile", "tzportal/portal/division", "tzportal/portal/locale", "tzportal/portal/metrics", "tzportal/portal/materials", "tzportal/portal/pii", "tzportal/portal/rating", "tzportal/portal/session", "tzportal/portal/unitstock", "tzportal/portal/validate",
		"tzportal/portal/workflow", "tzportal/portal/server", "tzportal/web"}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "tzportal/") && !slices.Contains(allowed, dep) {
			t.Errorf("portal/server depends on %s", dep)
		}
	}
}

package config_test

import (
	"strings"
	"testing"

	"tzportal/portal/config"
)

func TestDocumentSettings(t *testing.T) {
	c, err := config.FromEnv(env("PORTAL_ADDR", ":9090"), config.Needs{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "http://localhost:9090" || c.Files != "dir" || c.SMSURL != "" || c.SMTPURL != "" || c.CertKey != nil {
		t.Errorf("defaults: %+v", c)
	}
	c, err = config.FromEnv(env("PORTAL_PUBLIC_URL", "https://portal.taizhou.gov.cn/", "PORTAL_FILES", "db",
		"PORTAL_SMS_URL", "https://sms.internal/send", "PORTAL_CERT_KEY", secretOf(32)), config.Needs{})
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicURL != "https://portal.taizhou.gov.cn" || c.Files != "db" || len(c.CertKey) != 32 {
		t.Errorf("set: %+v", c)
	}
	_, err = config.FromEnv(env("PORTAL_PUBLIC_URL", "portal.taizhou.gov.cn", "PORTAL_FILES", "s3",
		"PORTAL_SMS_URL", "ftp://x", "PORTAL_CERT_KEY", "short"), config.Needs{})
	for _, want := range []string{"PORTAL_PUBLIC_URL", "PORTAL_FILES", "PORTAL_SMS_URL", "PORTAL_CERT_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("a bad %s is not reported: %v", want, err)
		}
	}
}

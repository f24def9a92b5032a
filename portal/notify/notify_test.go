package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal/notify"
)

func TestPermanent(t *testing.T) {
	base := errors.New("refused")
	if notify.Permanent(nil) != nil {
		t.Error("Permanent(nil) != nil")
	}
	if notify.IsPermanent(nil) || notify.IsPermanent(base) {
		t.Error("IsPermanent of an unmarked error = true")
	}
	wrapped := fmt.Errorf("worker: %w", notify.Permanent(base))
	if !notify.IsPermanent(wrapped) {
		t.Error("IsPermanent does not see through wrapping")
	}
	if !errors.Is(wrapped, base) {
		t.Error("Permanent hides its cause from errors.Is")
	}
	if got := notify.Permanent(base).Error(); got != "refused" {
		t.Errorf("Permanent(err).Error() = %q, want the cause's text", got)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{0, 30 * time.Second},
		{1, 30 * time.Second},
		{2, time.Minute},
		{3, 2 * time.Minute},
		{4, 4 * time.Minute},
		{5, 8 * time.Minute},
		{6, 16 * time.Minute},
		{7, 32 * time.Minute},
		{8, time.Hour},
		{9, time.Hour},
		{1000, time.Hour},
	}
	for _, tt := range tests {
		if got := notify.Backoff(tt.attempt); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestLogSender(t *testing.T) {
	tests := []struct{ to, want string }{
		{"13812345678", "138****5678"},
		{"1381234567", "1********7"},
		{"", ""},
		{"alice@example.com", "a***@example.com"},
		{"张三@例子.中国", "张***@例子.中国"},
		{"@example.com", "***@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.to, func(t *testing.T) {
			var buf bytes.Buffer
			s := notify.LogSender{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Channel: "sms"}
			body := "您的户口迁移申请 TZ-2026-0001 已受理"
			if err := s.Send(context.Background(), notify.Message{ID: 7, To: tt.to, Body: body}); err != nil {
				t.Fatalf("Send: %v", err)
			}
			if strings.Contains(buf.String(), "TZ-2026-0001") {
				t.Errorf("the log holds the body: %s", buf.String())
			}
			var rec map[string]any
			if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			got := map[string]any{"channel": rec["channel"], "id": rec["id"], "to": rec["to"], "body_len": rec["body_len"]}
			want := map[string]any{"channel": "sms", "id": 7.0, "to": tt.want, "body_len": float64(len(body))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("log attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogSenderNilLogger(t *testing.T) {
	if err := (notify.LogSender{}).Send(context.Background(), notify.Message{ID: 1, To: "13812345678"}); err != nil {
		t.Fatalf("Send with a nil Log: %v", err)
	}
}

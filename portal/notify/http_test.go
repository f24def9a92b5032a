package notify_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"tzportal/portal/notify"
)

// gatewayRequest is what one POST to the gateway carried.
type gatewayRequest struct {
	Method, ContentType, IdempotencyKey, Body string
}

// gateway starts an HTTP gateway that records each request and answers with
// status and body.
func gateway(t *testing.T, status int, body string) (*httptest.Server, <-chan gatewayRequest) {
	t.Helper()
	got := make(chan gatewayRequest, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- gatewayRequest{r.Method, r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), string(b)}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

var sms = notify.Message{ID: 9007199254740993, To: "13812345678", Body: "您的申请已受理 \"TZ-1\""}

func TestHTTPGatewayRequest(t *testing.T) {
	srv, got := gateway(t, http.StatusOK, `{"ok":true}`)
	if err := notify.NewHTTPGateway(srv.URL, nil).Send(context.Background(), sms); err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := gatewayRequest{
		Method:         "POST",
		ContentType:    "application/json",
		IdempotencyKey: "notify-9007199254740993",
		// The id is a string: 2^53+1 would be rounded by a float64 parser.
		Body: `{"id":"9007199254740993","to":"13812345678","text":"您的申请已受理 \"TZ-1\""}`,
	}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestHTTPGatewayStatus(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		wantErr       bool
		wantPermanent bool
	}{
		{"200", http.StatusOK, false, false},
		{"202", http.StatusAccepted, false, false},
		{"400", http.StatusBadRequest, true, true},
		{"404", http.StatusNotFound, true, true},
		{"408", http.StatusRequestTimeout, true, false},
		{"429", http.StatusTooManyRequests, true, false},
		{"500", http.StatusInternalServerError, true, false},
		{"503", http.StatusServiceUnavailable, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := gateway(t, tt.status, "invalid mobile "+strings.Repeat("x", 500))
			err := notify.NewHTTPGateway(srv.URL, nil).Send(context.Background(), sms)
			if (err != nil) != tt.wantErr || notify.IsPermanent(err) != tt.wantPermanent {
				t.Fatalf("Send = %v (permanent %v), want error %v, permanent %v",
					err, notify.IsPermanent(err), tt.wantErr, tt.wantPermanent)
			}
			if err == nil {
				return
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "notify.HTTPGateway.Send: ") || !strings.Contains(msg, tt.name) ||
				!strings.Contains(msg, "invalid mobile") {
				t.Errorf("error %q does not name the operation, the status and the gateway's answer", msg)
			}
			if strings.Contains(msg, strings.Repeat("x", 200)) {
				t.Errorf("error %q holds more than 200 bytes of the answer", msg)
			}
		})
	}
}

func TestHTTPGatewayTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	g := notify.NewHTTPGateway(srv.URL, &http.Client{Timeout: 50 * time.Millisecond})
	err := g.Send(context.Background(), sms)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send past the client timeout = %v, want a temporary error", err)
	}
}

func TestHTTPGatewayConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/send?key=s3cret"
	srv.Close()
	err := notify.NewHTTPGateway(url, nil).Send(context.Background(), sms)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send to a closed port = %v, want a temporary error", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q leaks the gateway URL's key", err)
	}
}

func TestHTTPGatewayCancelled(t *testing.T) {
	srv, _ := gateway(t, http.StatusOK, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := notify.NewHTTPGateway(srv.URL, nil).Send(ctx, sms)
	if err == nil || notify.IsPermanent(err) {
		t.Fatalf("Send with a cancelled context = %v, want a temporary error", err)
	}
}

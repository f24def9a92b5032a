package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// errBodyLimit is how much of a refusing gateway's answer goes into the error:
// enough for its reason, not enough to flood the outbox's error column.
const errBodyLimit = 200

// HTTPGateway sends SMS through an HTTP gateway that accepts one JSON message
// per POST. It is safe for concurrent use.
type HTTPGateway struct {
	url    string
	client *http.Client
}

// NewHTTPGateway returns a gateway posting to url. A nil client means one with
// a 10 s timeout, so that a hung gateway cannot hold a worker forever.
func NewHTTPGateway(url string, client *http.Client) *HTTPGateway {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	return &HTTPGateway{url: url, client: client}
}

// gatewayRequest is the JSON body of one send. The id is a decimal string so
// that gateways parsing numbers as float64 do not round large ids.
type gatewayRequest struct {
	ID   string `json:"id"`
	To   string `json:"to"`
	Text string `json:"text"`
}

// Send posts m to the gateway once. A 2xx answer is success; a 4xx answer
// other than 408 and 429 is permanent (the gateway refused this message and
// will refuse it again); 5xx answers, 408, 429, timeouts and connection errors
// are temporary. The Idempotency-Key header lets the gateway drop a retry of a
// send whose answer was lost.
func (g *HTTPGateway) Send(ctx context.Context, m Message) error {
	id := strconv.FormatInt(m.ID, 10)
	body, err := json.Marshal(gatewayRequest{ID: id, To: m.To, Text: m.Body})
	if err != nil {
		return fmt.Errorf("notify.HTTPGateway.Send: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify.HTTPGateway.Send: %w", redactURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "notify-"+id)

	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("notify.HTTPGateway.Send: %w", redactURL(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errBodyLimit))
	// Draining a little more lets the transport reuse the connection.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests:
		// The gateway was slow or throttling: a later attempt can succeed.
		return fmt.Errorf("notify.HTTPGateway.Send: gateway answered %s: %q", resp.Status, snippet)
	case code >= 400 && code < 500:
		return Permanent(fmt.Errorf("notify.HTTPGateway.Send: gateway refused with %s: %q", resp.Status, snippet))
	default:
		return fmt.Errorf("notify.HTTPGateway.Send: gateway answered %s: %q", resp.Status, snippet)
	}
}

// redactURL drops the request URL from a *url.Error: gateway URLs often carry
// an API key in the query, and the error ends up in the outbox and the logs.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

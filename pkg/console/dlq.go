package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/hourglass-sched/hourglass/pkg/client"
)

// DeadLetters are the operations of the dead-letter page: the tenant's
// FAILED tasks, and re-running one with a fresh retry budget.
type DeadLetters interface {
	// ListFailed reads one page of the tenant's FAILED tasks.
	ListFailed(ctx context.Context, pageToken string) (*client.Page, error)
	// Retry runs a FAILED task again (POST /v1/tasks/{id}:retry).
	Retry(ctx context.Context, id string) (*client.Task, error)
}

// HTTPDeadLetters calls GET /v1/tasks?state=FAILED and POST
// /v1/tasks/{id}:retry over HTTP. (It speaks HTTP itself rather than
// through package client, whose methods for these operations land
// separately; errors are *client.Error all the same.)
type HTTPDeadLetters struct {
	API        string       // base URL
	HTTPClient *http.Client // authorized
}

var _ DeadLetters = (*HTTPDeadLetters)(nil)

// ListFailed implements DeadLetters.
func (d *HTTPDeadLetters) ListFailed(ctx context.Context, pageToken string) (*client.Page, error) {
	q := url.Values{"state": {"FAILED"}, "limit": {"100"}}
	if pageToken != "" {
		q.Set("page_token", pageToken)
	}
	var out client.Page
	if err := d.call(ctx, http.MethodGet, "/v1/tasks?"+q.Encode(), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Retry implements DeadLetters.
func (d *HTTPDeadLetters) Retry(ctx context.Context, id string) (*client.Task, error) {
	var out client.Task
	if err := d.call(ctx, http.MethodPost, "/v1/tasks/"+url.PathEscape(id)+":retry", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

func (d *HTTPDeadLetters) call(ctx context.Context, method, path string, out any) error {
	var body io.Reader
	if method == http.MethodPost {
		body = bytes.NewReader([]byte("{}"))
	}
	// The API URL is the operator's configuration, not a request's input.
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(d.API, "/")+path, body) //nolint:gosec // see above
	if err != nil {
		return fmt.Errorf("hourglass %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.HTTPClient.Do(req) //nolint:gosec // the configured API, as above
	if err != nil {
		return fmt.Errorf("hourglass %s %s: %w", method, path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("hourglass %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("hourglass %s %s: decode answer: %w", method, path, err)
		}
		return nil
	}
	e := &client.Error{}
	if json.Unmarshal(b, e) != nil || e.Title == "" {
		e = &client.Error{Title: http.StatusText(resp.StatusCode), Detail: strings.TrimSpace(string(b))}
	}
	e.Status = resp.StatusCode
	return e
}

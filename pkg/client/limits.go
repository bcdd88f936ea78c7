package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Limit is a tenant's limits on one key: at most MaxConcurrency of the
// target calls of tasks naming the key at once, and at most PerSecond
// started in any one second, across every worker. Nil: unlimited.
type Limit struct {
	Key            string    `json:"key,omitempty"`
	MaxConcurrency *int      `json:"max_concurrency,omitempty"`
	PerSecond      *int      `json:"per_second,omitempty"`
	UpdatedAt      time.Time `json:"updated_at,omitzero"`
}

// PutLimit sets the limits of key (PUT /v1/limits/{key}); a nil field is
// unlimited. Putting the same limit twice is harmless, so it is retried.
func (c *Client) PutLimit(ctx context.Context, key string, maxConcurrency, perSecond *int) (*Limit, error) {
	var out Limit
	body := Limit{MaxConcurrency: maxConcurrency, PerSecond: perSecond}
	if _, err := c.do(ctx, http.MethodPut, "/v1/limits/"+url.PathEscape(key), nil, body, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// GetLimit reads the limits of key (IsNotFound when it has none).
func (c *Client) GetLimit(ctx context.Context, key string) (*Limit, error) {
	var out Limit
	if _, err := c.do(ctx, http.MethodGet, "/v1/limits/"+url.PathEscape(key), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListLimits reads the tenant's limits, ordered by key.
func (c *Client) ListLimits(ctx context.Context) ([]Limit, error) {
	var out struct {
		Limits []Limit `json:"limits"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/limits", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.Limits, nil
}

// DeleteLimit removes the limits of key (IsNotFound when it has none): its
// tasks then run unlimited.
func (c *Client) DeleteLimit(ctx context.Context, key string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/limits/"+url.PathEscape(key), nil, nil, "", nil)
	return err
}

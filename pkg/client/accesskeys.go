package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// AccessKey is one of the tenant's access keys, as listed: its ID and
// when it was created, never its secret.
type AccessKey struct {
	AccessKeyID string    `json:"access_key_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// NewAccessKey is a created access key with its secret, which no later
// answer shows again.
type NewAccessKey struct {
	AccessKeyID     string    `json:"access_key_id"`
	SecretAccessKey string    `json:"secret_access_key"`
	CreatedAt       time.Time `json:"created_at"`
}

// CreateAccessKey issues an access key for the tenant (POST
// /v1/access-keys): a SigV4 credential for the EventBridge
// Scheduler–compatible API. It is not retried on a 5xx or a network error
// (a retry could issue a second key): list the keys to see whether it
// took. IsConflict: the tenant holds its maximum number of keys.
func (c *Client) CreateAccessKey(ctx context.Context) (*NewAccessKey, error) {
	var out NewAccessKey
	if _, err := c.do(ctx, http.MethodPost, "/v1/access-keys", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// AccessKeys lists the tenant's access keys, oldest first (GET
// /v1/access-keys).
func (c *Client) AccessKeys(ctx context.Context) ([]AccessKey, error) {
	var out struct {
		AccessKeys []AccessKey `json:"access_keys"`
	}
	if _, err := c.do(ctx, http.MethodGet, "/v1/access-keys", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return out.AccessKeys, nil
}

// DeleteAccessKey revokes an access key (DELETE /v1/access-keys/{id}).
// IsNotFound: no such key, or another tenant's.
func (c *Client) DeleteAccessKey(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, "/v1/access-keys/"+url.PathEscape(id), nil, nil, "", nil)
	return err
}

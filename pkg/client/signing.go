package client

import (
	"context"
	"net/http"
	"time"
)

// SigningSecret is the tenant's webhook signing secret, in the Standard
// Webhooks "whsec_…" form the official libraries take. Previous and
// PreviousExpiresAt are set while a rotated secret still signs.
type SigningSecret struct {
	Secret            string     `json:"secret"`
	Previous          string     `json:"previous,omitempty"`
	PreviousExpiresAt *time.Time `json:"previous_expires_at,omitempty"`
}

// SigningSecret reads the tenant's webhook signing secret (GET
// /v1/signing-secret); the first read creates it.
func (c *Client) SigningSecret(ctx context.Context) (*SigningSecret, error) {
	var out SigningSecret
	if _, err := c.do(ctx, http.MethodGet, "/v1/signing-secret", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// RotateSigningSecret replaces the tenant's webhook signing secret (POST
// /v1/signing-secret:rotate): deliveries carry signatures by both the new
// and the previous secret until PreviousExpiresAt. It is not retried on
// a 5xx or a network error (a retry would rotate again): read the secret
// with SigningSecret to see whether it took. IsConflict: another rotation
// won a race.
func (c *Client) RotateSigningSecret(ctx context.Context) (*SigningSecret, error) {
	var out SigningSecret
	if _, err := c.do(ctx, http.MethodPost, "/v1/signing-secret:rotate", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

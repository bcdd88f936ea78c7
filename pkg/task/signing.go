package task

import "time"

// SigningSecret is a tenant's webhook signing secrets as stored: keys
// sealed by an envelope (KMS ciphertext in AWS). Package signing owns the
// rules; the type lives here so that storage adapters import only the
// domain.
type SigningSecret struct {
	Tenant string
	// Current signs every delivery.
	Current []byte
	// Previous, when set, signs too until PreviousExpiresAt.
	Previous          []byte
	PreviousExpiresAt time.Time
	// Version fences writes: 1 when created, +1 on each rotation.
	Version int64
}

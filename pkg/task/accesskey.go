package task

import (
	"errors"
	"time"
)

// AccessKey is a tenant's API access key as stored: its ID (the SigV4
// access key ID), the tenant it signs as, its secret sealed by an envelope
// (KMS in AWS), and when it was created. The secret in the clear is never
// stored; only the answer to its creation shows it.
type AccessKey struct {
	ID        string
	Tenant    string
	Sealed    []byte
	CreatedAt time.Time
}

// ErrAccessKeyLimit is a store's refusal to create an access key for a
// tenant that holds its maximum number of keys already.
var ErrAccessKeyLimit = errors.New("the tenant holds its maximum number of access keys")

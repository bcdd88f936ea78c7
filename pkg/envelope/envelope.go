// Package envelope seals small secrets at rest (the tenants' webhook
// signing keys): with AWS KMS in AWS, or not at all in development.
// Both bind each sealed value to a tenant, so a value copied into another
// tenant's record does not open.
package envelope

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/hourglass-sched/hourglass/pkg/signing"
)

// ContextKey is the KMS encryption context key that carries the tenant.
const ContextKey = "hourglass:tenant"

// KMSAPI is what KMS needs of the SDK client.
type KMSAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, opts ...func(*kms.Options)) (*kms.EncryptOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, opts ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// KMS seals with a KMS key. The values are 32-byte keys, far under KMS's
// 4 KiB Encrypt limit, so each is encrypted directly rather than under a
// generated data key; the tenant is the encryption context.
type KMS struct {
	client KMSAPI
	keyID  string
}

var _ signing.Envelope = (*KMS)(nil)

// NewKMS returns a KMS envelope for keyID (ID, ARN or alias).
func NewKMS(client KMSAPI, keyID string) *KMS { return &KMS{client: client, keyID: keyID} }

// Seal encrypts plaintext under the key, bound to tenant.
func (k *KMS) Seal(ctx context.Context, tenant string, plaintext []byte) ([]byte, error) {
	out, err := k.client.Encrypt(ctx, &kms.EncryptInput{KeyId: &k.keyID, Plaintext: plaintext, EncryptionContext: map[string]string{ContextKey: tenant}})
	if err != nil {
		return nil, fmt.Errorf("kms encrypt: %w", err)
	}
	return out.CiphertextBlob, nil
}

// Open decrypts what Seal returned for the same tenant.
func (k *KMS) Open(ctx context.Context, tenant string, sealed []byte) ([]byte, error) {
	out, err := k.client.Decrypt(ctx, &kms.DecryptInput{KeyId: &k.keyID, CiphertextBlob: sealed, EncryptionContext: map[string]string{ContextKey: tenant}})
	if err != nil {
		return nil, fmt.Errorf("kms decrypt: %w", err)
	}
	return out.Plaintext, nil
}

// None stores values in the clear (development and the emulator only),
// prefixed with a marker and the tenant so that it binds them as KMS does.
type None struct{}

var _ signing.Envelope = None{}

// ErrWrongTenant is None's refusal to open another tenant's value.
var ErrWrongTenant = errors.New("envelope: sealed for another tenant, or not by this envelope")

func noneHeader(tenant string) []byte { return fmt.Appendf(nil, "plain:%d:%s:", len(tenant), tenant) }

// Seal returns plaintext behind a header naming the tenant.
func (None) Seal(_ context.Context, tenant string, plaintext []byte) ([]byte, error) {
	return append(noneHeader(tenant), plaintext...), nil
}

// Open strips the header, refusing a value sealed for another tenant.
func (None) Open(_ context.Context, tenant string, sealed []byte) ([]byte, error) {
	rest, ok := bytes.CutPrefix(sealed, noneHeader(tenant))
	if !ok {
		return nil, ErrWrongTenant
	}
	return bytes.Clone(rest), nil
}

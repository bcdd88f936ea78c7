package ddbstore

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// A tenant's webhook signing secrets live in the tenant's own item space,
// beside nothing else yet: pk = tenantIndexKey(tenant) (the partition the
// by_tenant index uses for its tasks, here as a table key), sk "signing".
// The keys are stored as the Envelope sealed them (KMS ciphertext in AWS).
const signingSK = "signing"

const (
	aSigCur     = "cur"         // B: the sealed current key
	aSigPrev    = "prev"        // B: the sealed previous key, during a rotation's grace period
	aSigPrevExp = "prev_exp_ms" // N: when the previous key stops signing (Unix ms)
)

func signingKey(tenant string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(tenantIndexKey(tenant)), aSK: sAttr(signingSK)}
}

// GetSigningSecret reads a tenant's signing secret record (strongly
// consistent), or task.ErrNotFound.
func (s *Store) GetSigningSecret(ctx context.Context, tenant string) (task.SigningSecret, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: signingKey(tenant), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return task.SigningSecret{}, fmt.Errorf("get signing secret: %w", err)
	}
	if out.Item == nil {
		return task.SigningSecret{}, fmt.Errorf("signing secret of %q: %w", tenant, task.ErrNotFound)
	}
	it := out.Item
	if getS(it, aTenant) != tenant {
		return task.SigningSecret{}, fmt.Errorf("signing secret of %q: item names tenant %q", tenant, getS(it, aTenant))
	}
	r := task.SigningSecret{Tenant: tenant, Current: getB(it, aSigCur), Previous: getB(it, aSigPrev), Version: getN(it, aVer)}
	if ms := getN(it, aSigPrevExp); ms > 0 {
		r.PreviousExpiresAt = time.UnixMilli(ms).UTC()
	}
	if len(r.Current) == 0 {
		return task.SigningSecret{}, fmt.Errorf("signing secret of %q: item has no current key", tenant)
	}
	return r, nil
}

// PutSigningSecret writes r when the stored record's version is
// prevVersion (0: when there is none), else task.ErrConflict.
func (s *Store) PutSigningSecret(ctx context.Context, r task.SigningSecret, prevVersion int64) error {
	item := signingKey(r.Tenant)
	item[aTenant] = sAttr(r.Tenant)
	item[aVer] = nAttr(r.Version)
	item[aSigCur] = &types.AttributeValueMemberB{Value: r.Current}
	if len(r.Previous) > 0 {
		item[aSigPrev] = &types.AttributeValueMemberB{Value: r.Previous}
		item[aSigPrevExp] = msAttr(r.PreviousExpiresAt)
	}
	in := &dynamodb.PutItemInput{TableName: &s.table, Item: item}
	if prevVersion == 0 {
		in.ConditionExpression = aws.String("attribute_not_exists(pk)")
	} else {
		in.ConditionExpression = aws.String("ver = :ver")
		in.ExpressionAttributeValues = map[string]types.AttributeValue{":ver": nAttr(prevVersion)}
	}
	if _, err := s.db.PutItem(ctx, in); err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("signing secret of %q changed concurrently: %w", r.Tenant, task.ErrConflict)
		}
		return fmt.Errorf("put signing secret: %w", err)
	}
	return nil
}

func getB(item map[string]types.AttributeValue, k string) []byte {
	if v, ok := item[k].(*types.AttributeValueMemberB); ok {
		return v.Value
	}
	return nil
}

package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Access keys are three kinds of item, written and deleted together in one
// transaction:
//
//   - the key itself, pk "akey#<ID>", sk "akey": its tenant, its sealed
//     secret and its creation time. Found by the key ID alone, so that
//     resolving a signed request's key is one GetItem;
//   - the tenant's listing entry, pk = tenantIndexKey(tenant) (the tenant's
//     own item space, beside its signing secret), sk "akey#<ID>", with the
//     creation time: listing the tenant's keys is one Query, and no secret
//     is read to list;
//   - the tenant's key count, same pk, sk "akeys": the cap is a condition
//     on it, so two racing creates cannot both pass it.
const (
	accessKeyPrefix = "akey#"
	accessKeySK     = "akey"
	accessCountSK   = "akeys"

	aKeySecret = "sec" // B: the sealed secret access key
	aKeyCount  = "n"   // N: the tenant's number of keys
)

func accessKeyKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(accessKeyPrefix + id), aSK: sAttr(accessKeySK)}
}

func accessListKey(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(tenantIndexKey(tenant)), aSK: sAttr(accessKeyPrefix + id)}
}

func accessCountKey(tenant string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(tenantIndexKey(tenant)), aSK: sAttr(accessCountSK)}
}

// CreateAccessKey stores k when its tenant holds fewer than maxPerTenant
// keys, else task.ErrAccessKeyLimit; an existing key ID is
// task.ErrConflict.
func (s *Store) CreateAccessKey(ctx context.Context, k task.AccessKey, maxPerTenant int) error {
	item := accessKeyKey(k.ID)
	item[aTenant] = sAttr(k.Tenant)
	item[aKeySecret] = &types.AttributeValueMemberB{Value: k.Sealed}
	item[aCreated] = msAttr(k.CreatedAt)
	entry := accessListKey(k.Tenant, k.ID)
	entry[aCreated] = msAttr(k.CreatedAt)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName: &s.table, Key: accessCountKey(k.Tenant),
			UpdateExpression:          aws.String("SET n = if_not_exists(n, :zero) + :one"),
			ConditionExpression:       aws.String("attribute_not_exists(n) OR n < :max"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": nAttr(0), ":one": nAttr(1), ":max": nAttr(int64(maxPerTenant))},
		}},
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &s.table, Item: entry}},
	}})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return fmt.Errorf("create access key: %w", err)
	}
	if len(tce.CancellationReasons) > 0 && aws.ToString(tce.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return fmt.Errorf("create access key for %q: %w", k.Tenant, task.ErrAccessKeyLimit)
	}
	return fmt.Errorf("create access key %s: %w: %w", k.ID, task.ErrConflict, err)
}

// GetAccessKey reads a key by its ID (strongly consistent, so a key works
// as soon as its creation answered), or task.ErrNotFound.
func (s *Store) GetAccessKey(ctx context.Context, id string) (task.AccessKey, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: accessKeyKey(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return task.AccessKey{}, fmt.Errorf("get access key: %w", err)
	}
	if out.Item == nil {
		return task.AccessKey{}, fmt.Errorf("access key %s: %w", id, task.ErrNotFound)
	}
	k := task.AccessKey{ID: id, Tenant: getS(out.Item, aTenant), Sealed: getB(out.Item, aKeySecret), CreatedAt: time.UnixMilli(getN(out.Item, aCreated)).UTC()}
	if k.Tenant == "" || len(k.Sealed) == 0 {
		return task.AccessKey{}, fmt.Errorf("access key %s: item has no tenant or secret", id)
	}
	return k, nil
}

// ListAccessKeys returns the tenant's keys in ID order, without their
// secrets (Sealed is nil).
func (s *Store) ListAccessKeys(ctx context.Context, tenant string) ([]task.AccessKey, error) {
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :p)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": sAttr(tenantIndexKey(tenant)), ":p": sAttr(accessKeyPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	var keys []task.AccessKey
	for {
		out, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list access keys: %w", err)
		}
		for _, it := range out.Items {
			keys = append(keys, task.AccessKey{
				ID: strings.TrimPrefix(getS(it, aSK), accessKeyPrefix), Tenant: tenant,
				CreatedAt: time.UnixMilli(getN(it, aCreated)).UTC(),
			})
		}
		if len(out.LastEvaluatedKey) == 0 {
			return keys, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}

// DeleteAccessKey deletes the tenant's key id with its listing entry and
// counts it out. A key that does not exist, or is another tenant's, is
// task.ErrNotFound and nothing changes.
func (s *Store) DeleteAccessKey(ctx context.Context, tenant, id string) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName: &s.table, Key: accessKeyKey(id),
			ConditionExpression:       aws.String("tenant = :t"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":t": sAttr(tenant)},
		}},
		{Delete: &types.Delete{TableName: &s.table, Key: accessListKey(tenant, id)}},
		{Update: &types.Update{
			TableName: &s.table, Key: accessCountKey(tenant),
			UpdateExpression:          aws.String("SET n = n - :one"),
			ConditionExpression:       aws.String("n > :zero"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":zero": nAttr(0), ":one": nAttr(1)},
		}},
	}})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		return fmt.Errorf("access key %s of %q: %w", id, tenant, task.ErrNotFound)
	}
	return fmt.Errorf("delete access key: %w", err)
}

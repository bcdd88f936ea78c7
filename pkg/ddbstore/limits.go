package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// A tenant's limit on a key lives in the tenant's item space (as its
// signing secret does): pk = tenantIndexKey(tenant), sk = "limit#<key>".
// The one item holds both the limit and its shared state (holders and the
// rate window, task.LimitState), so an acquire reads one item strongly
// and writes it back fenced on its version: one read and one write, and
// one write to release. A key therefore takes at most about 500 tasks a
// second (DynamoDB's 1,000 writes a second per item's partition, two per
// task), fewer under contention (a lost race reads and writes again).
const limitSKPrefix = "limit#"

const (
	aLimKey     = "lkey"   // S: the limit key
	aLimConc    = "mc"     // N: max_concurrency (0: unlimited)
	aLimRate    = "ps"     // N: per_second (0: unlimited)
	aLimHolders = "h"      // M: holder → lease expiry (Unix ms)
	aLimSlots   = "sl"     // M: rate slot number → starts in it
	aLimUpdated = "upd_ms" // N: when the limit was last put
)

// limitAcquireTries bounds an acquire's optimistic read-and-write rounds
// under contention; past it the caller is told to wait briefly.
const limitAcquireTries = 6

func limitKey(tenant, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(tenantIndexKey(tenant)), aSK: sAttr(limitSKPrefix + key)}
}

// PutLimit creates or replaces the limit on l.Key (its state, holders and
// rate window, is kept: a lowered limit applies to the next acquire).
func (s *Store) PutLimit(ctx context.Context, l task.Limit) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        &s.table,
		Key:              limitKey(l.Tenant, l.Key),
		UpdateExpression: aws.String("SET tenant = :t, lkey = :k, mc = :mc, ps = :ps, upd_ms = :now, ver = if_not_exists(ver, :zero) + :one"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": sAttr(l.Tenant), ":k": sAttr(l.Key), ":mc": nAttr(int64(l.MaxConcurrency)), ":ps": nAttr(int64(l.PerSecond)),
			":now": msAttr(l.UpdatedAt), ":zero": nAttr(0), ":one": nAttr(1),
		},
	})
	if err != nil {
		return fmt.Errorf("put limit %q: %w", l.Key, err)
	}
	return nil
}

// GetLimit reads a tenant's limit on key (strongly consistent), or
// task.ErrNotFound.
func (s *Store) GetLimit(ctx context.Context, tenant, key string) (task.Limit, error) {
	l, _, err := s.readLimit(ctx, tenant, key)
	return l, err
}

func (s *Store) readLimit(ctx context.Context, tenant, key string) (task.Limit, task.LimitState, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: limitKey(tenant, key), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return task.Limit{}, task.LimitState{}, fmt.Errorf("get limit %q: %w", key, err)
	}
	if out.Item == nil {
		return task.Limit{}, task.LimitState{}, fmt.Errorf("limit %q of %q: %w", key, tenant, task.ErrNotFound)
	}
	if getS(out.Item, aTenant) != tenant {
		return task.Limit{}, task.LimitState{}, fmt.Errorf("limit %q of %q: item names tenant %q", key, tenant, getS(out.Item, aTenant))
	}
	l, st := unmarshalLimit(out.Item)
	return l, st, nil
}

func unmarshalLimit(it map[string]types.AttributeValue) (task.Limit, task.LimitState) {
	l := task.Limit{
		Tenant: getS(it, aTenant), Key: getS(it, aLimKey),
		MaxConcurrency: int(getN(it, aLimConc)), PerSecond: int(getN(it, aLimRate)), UpdatedAt: getMs(it, aLimUpdated),
	}
	st := task.LimitState{Holders: map[string]time.Time{}, Slots: map[int64]int{}, Version: getN(it, aVer)}
	if m, ok := it[aLimHolders].(*types.AttributeValueMemberM); ok {
		for h := range m.Value {
			st.Holders[h] = getMs(m.Value, h)
		}
	}
	if m, ok := it[aLimSlots].(*types.AttributeValueMemberM); ok {
		for k := range m.Value {
			if n, err := strconv.ParseInt(k, 10, 64); err == nil {
				st.Slots[n] = int(getN(m.Value, k))
			}
		}
	}
	return l, st
}

// ListLimits returns a tenant's limits, ordered by key.
func (s *Store) ListLimits(ctx context.Context, tenant string) ([]task.Limit, error) {
	var out []task.Limit
	in := &dynamodb.QueryInput{
		TableName:              &s.table,
		KeyConditionExpression: aws.String("pk = :pk AND begins_with(sk, :pre)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": sAttr(tenantIndexKey(tenant)), ":pre": sAttr(limitSKPrefix),
		},
		ConsistentRead: aws.Bool(true),
	}
	for {
		page, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list limits: %w", err)
		}
		for _, it := range page.Items {
			if getS(it, aTenant) != tenant {
				continue
			}
			l, _ := unmarshalLimit(it)
			out = append(out, l)
		}
		if len(page.LastEvaluatedKey) == 0 {
			break
		}
		in.ExclusiveStartKey = page.LastEvaluatedKey
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// DeleteLimit removes a tenant's limit on key (task.ErrNotFound when there
// is none). Its holders are forgotten: their releases then do nothing.
func (s *Store) DeleteLimit(ctx context.Context, tenant, key string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: limitKey(tenant, key),
		ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("limit %q of %q: %w", key, tenant, task.ErrNotFound)
		}
		return fmt.Errorf("delete limit %q: %w", key, err)
	}
	return nil
}

// AcquireLimit takes a slot of the tenant's limit on key for holder for
// lease (see task.Limit.Acquire). The time of the grant is read from now
// after the item is read, so that the slot it counts is as close to the
// target call as the store allows. A key without a limit answers
// Limited false. Each round reads the item strongly and writes it back
// fenced on its version; a round lost to a concurrent acquire or release
// is played again, up to limitAcquireTries times, after which the caller
// is told to wait briefly (Reason "contention").
func (s *Store) AcquireLimit(ctx context.Context, tenant, key, holder string, now func() time.Time, lease time.Duration) (task.LimitGrant, error) {
	for try := 0; try < limitAcquireTries; try++ {
		l, st, err := s.readLimit(ctx, tenant, key)
		if errors.Is(err, task.ErrNotFound) {
			return task.LimitGrant{}, nil
		}
		if err != nil {
			return task.LimitGrant{}, err
		}
		if l.MaxConcurrency == 0 && l.PerSecond == 0 {
			return task.LimitGrant{}, nil
		}
		at := now()
		next, g := l.Acquire(st, holder, at, at.Add(lease))
		if !g.OK {
			return g, nil
		}
		holders := make(map[string]types.AttributeValue, len(next.Holders))
		for h, exp := range next.Holders {
			holders[h] = msAttr(exp)
		}
		slots := make(map[string]types.AttributeValue, len(next.Slots))
		for k, n := range next.Slots {
			slots[strconv.FormatInt(k, 10)] = nAttr(int64(n))
		}
		_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:           &s.table,
			Key:                 limitKey(tenant, key),
			UpdateExpression:    aws.String("SET h = :h, sl = :sl, ver = :nv"),
			ConditionExpression: aws.String("ver = :v"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":h": &types.AttributeValueMemberM{Value: holders}, ":sl": &types.AttributeValueMemberM{Value: slots},
				":nv": nAttr(next.Version), ":v": nAttr(st.Version),
			},
		})
		if err == nil {
			return g, nil
		}
		if !isConditionFailed(err) {
			// May have succeeded: the holder is then in the item until its
			// lease ends or a retried acquire (same holder) finds it.
			return task.LimitGrant{}, fmt.Errorf("acquire limit %q: %w", key, err)
		}
		// Lost a race: back off a little (jittered) and play it again.
		t := time.NewTimer(time.Duration(5+rand.IntN(20*(try+1))) * time.Millisecond) //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			t.Stop()
			return task.LimitGrant{}, ctx.Err()
		case <-t.C:
		}
	}
	return task.LimitGrant{Limited: true, RetryAfter: 100 * time.Millisecond, Reason: "contention"}, nil
}

// ReleaseLimit gives holder's slot back. It bumps the version, so an
// acquire that read the item before fails its write and reads again. A
// key whose limit was deleted, or a holder already gone, is no error.
func (s *Store) ReleaseLimit(ctx context.Context, tenant, key, holder string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      limitKey(tenant, key),
		UpdateExpression:         aws.String("REMOVE h.#h SET ver = ver + :one"),
		ConditionExpression:      aws.String("attribute_exists(h.#h)"),
		ExpressionAttributeNames: map[string]string{"#h": holder},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": nAttr(1),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release limit %q: %w", key, err)
	}
	return nil
}

// NoteLimitWait adds to a task's record of waiting for its limit key
// (limit_waits, limit_waited_ms). It leaves the version alone: it records
// no transition, and an outcome fenced on the version read before it must
// still apply.
func (s *Store) NoteLimitWait(ctx context.Context, id task.ID, waits int, waited time.Duration) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           &s.table,
		Key:                 s.key(id),
		UpdateExpression:    aws.String("ADD lw :n, lw_ms :ms"),
		ConditionExpression: aws.String("attribute_exists(pk)"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":n": nAttr(int64(waits)), ":ms": nAttr(waited.Milliseconds()),
		},
	})
	if err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("note limit wait of %s: %w", id, task.ErrNotFound)
		}
		return fmt.Errorf("note limit wait of %s: %w", id, err)
	}
	return nil
}

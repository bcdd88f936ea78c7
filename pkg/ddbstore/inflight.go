package ddbstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// A tenant's in-flight reservations (HOURGLASS_TENANT_MAX_IN_FLIGHT) live
// in one item of the tenant's item space: pk = tenantIndexKey(tenant),
// sk = "inflight", with a map h of task ID → reservation expiry (Unix ms)
// and a version. The dispatcher reserves a pass's tasks of the tenant with
// one strong read and one write fenced on the version (none when nothing
// changes); the worker releases a task with one write when its final
// outcome is recorded. A reservation a crash never releases lapses at its
// expiry (task.ReserveInFlight), so the count heals without a sweep.
// The item takes about 1,000 writes a second: one per finished task plus
// one per tenant per pass, far above what a capped tenant finishes.
const inFlightSK = "inflight"

const inFlightTries = 6

func inFlightKey(tenant string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(tenantIndexKey(tenant)), aSK: sAttr(inFlightSK)}
}

// InFlight reads a tenant's live reservations (task ID → expiry), strongly.
func (s *Store) InFlight(ctx context.Context, tenant string, now time.Time) (map[string]time.Time, error) {
	held, _, _, err := s.readInFlight(ctx, tenant)
	if err != nil {
		return nil, err
	}
	for id, exp := range held {
		if !exp.After(now) {
			delete(held, id)
		}
	}
	return held, nil
}

func (s *Store) readInFlight(ctx context.Context, tenant string) (map[string]time.Time, int64, bool, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: inFlightKey(tenant), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, 0, false, fmt.Errorf("read in-flight of %q: %w", tenant, err)
	}
	held := map[string]time.Time{}
	if out.Item == nil {
		return held, 0, false, nil
	}
	if m, ok := out.Item[aLimHolders].(*types.AttributeValueMemberM); ok {
		for id := range m.Value {
			held[id] = getMs(m.Value, id)
		}
	}
	return held, getN(out.Item, aVer), true, nil
}

// AcquireInFlight reserves ids (in order) for the tenant while fewer than
// limit of its reservations are live, each until until, and says how many
// of ids, from the first, were granted (see task.ReserveInFlight). A write
// lost to a concurrent acquire or release is played again a few times;
// past that it grants none (the tasks wait for the next pass).
func (s *Store) AcquireInFlight(ctx context.Context, tenant string, limit int, ids []string, now, until time.Time) (int, error) {
	for try := 0; try < inFlightTries; try++ {
		held, ver, exists, err := s.readInFlight(ctx, tenant)
		if err != nil {
			return 0, err
		}
		next, granted, changed := task.ReserveInFlight(held, limit, ids, now, until)
		if !changed {
			return granted, nil
		}
		h := make(map[string]types.AttributeValue, len(next))
		for id, exp := range next {
			h[id] = msAttr(exp)
		}
		in := &dynamodb.UpdateItemInput{
			TableName:        &s.table,
			Key:              inFlightKey(tenant),
			UpdateExpression: aws.String("SET tenant = :t, h = :h, ver = :nv"),
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":t": sAttr(tenant), ":h": &types.AttributeValueMemberM{Value: h}, ":nv": nAttr(ver + 1),
			},
		}
		if exists {
			in.ConditionExpression = aws.String("ver = :v")
			in.ExpressionAttributeValues[":v"] = nAttr(ver)
		} else {
			in.ConditionExpression = aws.String("attribute_not_exists(pk)")
		}
		_, err = s.db.UpdateItem(ctx, in)
		if err == nil {
			return granted, nil
		}
		if !isConditionFailed(err) {
			// May have been applied: the reservations then lapse at until.
			return 0, fmt.Errorf("acquire in-flight of %q: %w", tenant, err)
		}
		t := time.NewTimer(time.Duration(5+rand.IntN(20*(try+1))) * time.Millisecond) //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			t.Stop()
			return 0, ctx.Err()
		case <-t.C:
		}
	}
	return 0, nil
}

// ReleaseInFlight drops a task's reservation (one write). It bumps the
// version, so an acquire that read the item before writes again. A
// reservation already gone (lapsed, or released by a duplicate) is no error.
func (s *Store) ReleaseInFlight(ctx context.Context, tenant, id string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                &s.table,
		Key:                      inFlightKey(tenant),
		UpdateExpression:         aws.String("REMOVE h.#id SET ver = ver + :one"),
		ConditionExpression:      aws.String("attribute_exists(h.#id)"),
		ExpressionAttributeNames: map[string]string{"#id": id},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one": nAttr(1),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("release in-flight of %q: %w", tenant, err)
	}
	return nil
}

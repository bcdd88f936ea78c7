package ddbstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

// IndexByTenant is the global secondary index that lists a tenant's tasks:
// partition gsi1pk = "ten#<len(tenant)>#<tenant>", sort gsi1sk = the task's
// sort key ("<due ms>#<id>"), projection KEYS_ONLY.
//
// Both key attributes are written when the task is created and never
// updated (a reschedule writes a new item), and KEYS_ONLY projects nothing
// a claim or an outcome changes, so those writes never touch the index: the
// index costs one write unit per task, at create, and nothing after.
//
// The keys are written only when the store is built with Options.ListIndex
// (HOURGLASS_LIST_INDEX); otherwise no item is in the index and it costs
// nothing. The index stays in the table either way, so it can be turned on
// without a table change: it then holds the tasks created from then on.
const IndexByTenant = "by_tenant"

// tenantIndexKey is a tenant's partition in the by_tenant index, length
// prefixed as tokenKey is so that no two tenants can share it.
func tenantIndexKey(tenant string) string {
	return "ten#" + strconv.Itoa(len(tenant)) + "#" + tenant
}

// IndexByFailed is the sparse global secondary index of FAILED tasks:
// partition "tenant" (the task's tenant attribute, on every task item),
// sort failed_sk = the task's sort key ("<due ms>#<id>"), projection
// KEYS_ONLY. An item is in a GSI only when it has both key attributes, and
// failed_sk is written only by the outcome write that makes a task FAILED
// (and removed by a redrive): tasks that succeed, or are still running,
// never touch the index. It is written whatever Options.ListIndex says, so
// GET /v1/tasks?state=FAILED answers in every deployment.
const IndexByFailed = "by_failed"

// ListIDs reads one page of the tenant's index partition (eventually
// consistent, as every GSI read is). more reports that the index may hold
// further entries past the last one returned. It finds only tasks created
// by a store with Options.ListIndex.
func (s *Store) ListIDs(ctx context.Context, q task.ListQuery) (entries []task.ListEntry, more bool, err error) {
	return s.listIndexed(ctx, q, IndexByTenant, aGSIPK, tenantIndexKey(q.Tenant), aGSISK)
}

// ListFailedIDs reads one page of the tenant's FAILED tasks from the
// by_failed index, newest due first, as ListIDs does from by_tenant. A
// task failed (or redriven) a moment ago may be missing (or still listed):
// GSI reads are eventually consistent, so callers re-check each task.
func (s *Store) ListFailedIDs(ctx context.Context, q task.ListQuery) (entries []task.ListEntry, more bool, err error) {
	return s.listIndexed(ctx, q, IndexByFailed, aTenant, q.Tenant, aFailedSK)
}

// listIndexed queries one partition (pkAttr = pk) of index, whose sort key
// skAttr holds task sort keys, newest first.
func (s *Store) listIndexed(ctx context.Context, q task.ListQuery, index, pkAttr, pk, skAttr string) (entries []task.ListEntry, more bool, err error) {
	lo, hi, empty := q.Bounds()
	if empty {
		return nil, false, nil
	}
	in := &dynamodb.QueryInput{
		TableName:                &s.table,
		IndexName:                aws.String(index),
		KeyConditionExpression:   aws.String("#ipk = :t AND #isk BETWEEN :lo AND :hi"),
		ExpressionAttributeNames: map[string]string{"#ipk": pkAttr, "#isk": skAttr},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":t": sAttr(pk), ":lo": sAttr(lo), ":hi": sAttr(hi),
		},
		ScanIndexForward: aws.Bool(false),
		Limit:            aws.Int32(max(q.Limit, 1)),
	}
	if q.After != "" {
		id, err := task.ParsePosition(q.After)
		if err != nil {
			return nil, false, fmt.Errorf("list tasks: bad position: %w", err)
		}
		k := s.layout.KeyOf(id)
		in.ExclusiveStartKey = map[string]types.AttributeValue{
			pkAttr: sAttr(pk), skAttr: sAttr(q.After), aPK: sAttr(k.PK), aSK: sAttr(k.SK),
		}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, false, fmt.Errorf("list tasks of a tenant (index %s): %w", index, err)
	}
	entries = make([]task.ListEntry, 0, len(out.Items))
	for _, it := range out.Items {
		pos := getS(it, skAttr)
		id, err := task.ParsePosition(pos)
		if err != nil {
			return nil, false, fmt.Errorf("list tasks: index %s entry %q: %w", index, pos, err)
		}
		entries = append(entries, task.ListEntry{ID: id, Pos: pos})
	}
	return entries, out.LastEvaluatedKey != nil, nil
}

// GetMany reads tasks by ID with BatchGetItem (strongly consistent, at most
// 100 IDs). Missing tasks are absent from the map.
func (s *Store) GetMany(ctx context.Context, ids []task.ID) (map[task.ID]*task.Task, error) {
	if len(ids) > 100 {
		return nil, fmt.Errorf("get tasks: %d IDs; at most 100 per call", len(ids))
	}
	found := make(map[task.ID]*task.Task, len(ids))
	if len(ids) == 0 {
		return found, nil
	}
	keys := make([]map[string]types.AttributeValue, 0, len(ids))
	seen := make(map[task.ID]bool, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			keys = append(keys, s.key(id))
		}
	}
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for attempt := 0; len(req) > 0; attempt++ {
		if attempt > 0 {
			// Unprocessed keys mean throttling: back off a little.
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("get tasks: %w", ctx.Err())
			case <-time.After(time.Duration(min(attempt, 6)) * 50 * time.Millisecond):
			}
		}
		if attempt > 10 {
			return nil, errors.New("get tasks: keys still unprocessed after 10 retries")
		}
		out, err := s.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, fmt.Errorf("get tasks: %w", err)
		}
		for _, it := range out.Responses[s.table] {
			t, err := unmarshalTask(it)
			if err != nil {
				return nil, err
			}
			found[t.ID] = t
		}
		req = out.UnprocessedKeys
	}
	return found, nil
}

// Update changes a task that is SCHEDULED and whose bucket the scanner has
// not announced (so no message for it exists yet), in one transaction that
// also checks the scanner cursor. prev is the task as read (its version
// fences the write); next is the new content.
//
// If next has prev's ID, the item is updated in place: target, payload,
// payload hash, retry and labels. Otherwise (a new due time, so a new ID and
// partition) next is written as a new item and prev becomes CANCELLED with
// replaced_by = next's ID.
//
// Another tenant's or a missing task is task.ErrNotFound; a task that
// changed since prev was read, is no longer SCHEDULED, or whose bucket was
// announced is task.ErrConflict.
func (s *Store) Update(ctx context.Context, prev, next *task.Task, now time.Time) (*task.Task, error) {
	cond := "tenant = :tenant AND #st = :sched AND ver = :ver"
	vals := map[string]types.AttributeValue{
		":tenant": sAttr(prev.Tenant), ":sched": sAttr(string(task.Scheduled)), ":ver": nAttr(prev.Version),
		":one": nAttr(1), ":now": msAttr(now),
	}
	var primary types.TransactWriteItem
	var put *types.TransactWriteItem
	if next.ID == prev.ID {
		// The packed body is rewritten whole; an item written before it
		// existed loses its one-attribute-each fields (see marshalTask).
		set := "SET " + aBody + " = :body, ph = :ph, max_att = :ma, ver = ver + :one, updated_ms = :now"
		remove := []string{aID, aKind, aTarget, aPayload, aBackInit, aBackMax}
		vals[":body"] = &types.AttributeValueMemberB{Value: packBody(next)}
		vals[":ph"], vals[":ma"] = sAttr(next.PayloadHash), nAttr(int64(next.Retry.MaxAttempts))
		expr := set
		if len(next.Labels) > 0 {
			m := make(map[string]types.AttributeValue, len(next.Labels))
			for k, v := range next.Labels {
				m[k] = sAttr(v)
			}
			vals[":labels"] = &types.AttributeValueMemberM{Value: m}
			expr += ", labels = :labels"
		} else {
			remove = append(remove, aLabels)
		}
		expr += " REMOVE " + strings.Join(remove, ", ")
		primary = types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: s.key(prev.ID), UpdateExpression: &expr, ConditionExpression: &cond,
			ExpressionAttributeNames: map[string]string{"#st": aState}, ExpressionAttributeValues: vals,
		}}
	} else {
		vals[":canc"], vals[":next"], vals[":exp"] = sAttr(string(task.Cancelled)), sAttr(next.ID.String()), nAttr(now.Add(s.retention).Unix())
		primary = types.TransactWriteItem{Update: &types.Update{
			TableName: &s.table, Key: s.key(prev.ID), ConditionExpression: &cond,
			UpdateExpression:         aws.String("SET #st = :canc, replaced_by = :next, ver = ver + :one, updated_ms = :now, finished_ms = :now, expires_at = :exp"),
			ExpressionAttributeNames: map[string]string{"#st": aState}, ExpressionAttributeValues: vals,
		}}
		put = &types.TransactWriteItem{Put: &types.Put{
			TableName: &s.table, Item: s.marshalTask(next), ConditionExpression: aws.String("attribute_not_exists(pk)"),
		}}
	}
	// The scanner announces a bucket (raises "dispatching") before any
	// dispatcher reads it: while the cursor is below prev's bucket, no
	// message for prev exists, and none can be sent until this commits.
	check := types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
		TableName: &s.table, Key: cursorKey,
		ConditionExpression:       aws.String("attribute_not_exists(dispatching) OR dispatching < :b"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":b": nAttr(s.layout.BucketOf(prev.ID.Due()))},
	}}
	items := []types.TransactWriteItem{primary, check}
	if put != nil {
		items = append(items, *put)
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return s.Get(ctx, next.ID)
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, fmt.Errorf("update task %s: %w", prev.ID, err)
	}
	// Find out why: the task changed or went, or its bucket was announced.
	cur, gerr := s.Get(ctx, prev.ID)
	switch {
	case errors.Is(gerr, task.ErrNotFound):
		return nil, fmt.Errorf("update task %s: %w", prev.ID, task.ErrNotFound)
	case gerr != nil:
		return nil, fmt.Errorf("update task %s: transaction cancelled (%w); re-read: %w", prev.ID, err, gerr)
	case cur.Tenant != prev.Tenant:
		return nil, fmt.Errorf("update task %s: %w", prev.ID, task.ErrNotFound)
	case cur.State != task.Scheduled:
		return cur, fmt.Errorf("update task %s: task is %s: %w", prev.ID, cur.State, task.ErrConflict)
	case cur.Version != prev.Version:
		return cur, fmt.Errorf("update task %s: changed concurrently: %w", prev.ID, task.ErrConflict)
	}
	c, cerr := s.GetCursor(ctx)
	if cerr == nil && c.Dispatching >= s.layout.BucketOf(prev.ID.Due()) {
		return cur, fmt.Errorf("update task %s: already dispatched: %w", prev.ID, task.ErrConflict)
	}
	return nil, fmt.Errorf("update task %s: %w", prev.ID, err)
}

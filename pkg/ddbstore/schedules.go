package ddbstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Schedule items and occurrence records share the table with tasks:
//
//	schedule    pk "sch#<len(tenant)>#<tenant>"           sk "<schedule id>"
//	occurrence  pk "occ#<len(tenant)>#<tenant>#<sch id>"  sk "<fire ms, 15 digits>#<generation>"
//
// A tenant's schedules are one Query; a schedule's history is one Query,
// newest first. Tenants are length-prefixed, as in client-token keys.
const (
	aExpr     = "expr"      // schedule: canonical expression
	aTZ       = "tz"        // schedule: IANA zone
	aStartMs  = "start_ms"  // schedule: optional start bound
	aEndMs    = "end_ms"    // schedule: optional end bound
	aFlex     = "flex_s"    // schedule: flexible window, seconds
	aMisfire  = "misfire"   // schedule: misfire policy
	aGen      = "gen"       // schedule and occurrence: generation
	aPausedMs = "paused_ms" // schedule: when last disabled
	aName     = "name"      // schedule and group: name
	aGroup    = "grp"       // schedule: group of a named schedule
	aDesc     = "desc"      // schedule: description
	aAfter    = "aac"       // schedule: action after completion
	aCToken   = "ctok"      // schedule: client token of a named create
	aDLA      = "dla"       // schedule: dead-letter ARN (recorded)
	aMaxAge   = "max_age_s" // schedule: maximum event age, seconds
	aTags     = "tags"      // group: tags
)

func scheduleKey(tenant, id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{aPK: sAttr(schedulePK(tenant)), aSK: sAttr(id)}
}

func schedulePK(tenant string) string { return "sch#" + strconv.Itoa(len(tenant)) + "#" + tenant }

func occurrencePK(tenant, id string) string {
	return "occ#" + strconv.Itoa(len(tenant)) + "#" + tenant + "#" + id
}

func marshalSchedule(s *schedule.Schedule) map[string]types.AttributeValue {
	k := scheduleKey(s.Tenant, s.ID)
	item := map[string]types.AttributeValue{
		aPK: k[aPK], aSK: k[aSK],
		aID: sAttr(s.ID), aTenant: sAttr(s.Tenant), aExpr: sAttr(s.Expression), aTZ: sAttr(s.Timezone),
		aKind: sAttr(s.Target.Kind), aTarget: sAttr(string(s.Target.Spec)), aPayload: sAttr(string(s.Payload)),
		aMaxAtt: nAttr(int64(s.Retry.MaxAttempts)), aBackInit: nAttr(s.Retry.InitialBackoff.Milliseconds()),
		aBackMax: nAttr(s.Retry.MaxBackoff.Milliseconds()), aState: sAttr(string(s.State)),
		aFlex: nAttr(int64(s.FlexWindow / time.Second)), aMisfire: sAttr(string(s.Misfire)),
		aGen: nAttr(s.Generation), aVer: nAttr(s.Version), aCreated: msAttr(s.CreatedAt), aUpdated: msAttr(s.UpdatedAt),
	}
	if !s.Start.IsZero() {
		item[aStartMs] = msAttr(s.Start)
	}
	if !s.End.IsZero() {
		item[aEndMs] = msAttr(s.End)
	}
	if !s.PausedAt.IsZero() {
		item[aPausedMs] = msAttr(s.PausedAt)
	}
	if len(s.Labels) > 0 {
		m := make(map[string]types.AttributeValue, len(s.Labels))
		for k, v := range s.Labels {
			m[k] = sAttr(v)
		}
		item[aLabels] = &types.AttributeValueMemberM{Value: m}
	}
	for k, v := range map[string]string{aName: s.Name, aGroup: s.Group, aDesc: s.Description, aAfter: string(s.AfterCompletion), aCToken: s.ClientToken, aDLA: s.DeadLetterArn} {
		if v != "" {
			item[k] = sAttr(v)
		}
	}
	if s.MaxEventAge > 0 {
		item[aMaxAge] = nAttr(int64(s.MaxEventAge / time.Second))
	}
	return item
}

func unmarshalSchedule(item map[string]types.AttributeValue) *schedule.Schedule {
	s := &schedule.Schedule{
		ID: getS(item, aID), Tenant: getS(item, aTenant), Expression: getS(item, aExpr), Timezone: getS(item, aTZ),
		Target:  task.TargetOf(getS(item, aKind), json.RawMessage(getS(item, aTarget))),
		Payload: json.RawMessage(getS(item, aPayload)),
		Retry: task.Retry{
			MaxAttempts:    int(getN(item, aMaxAtt)),
			InitialBackoff: time.Duration(getN(item, aBackInit)) * time.Millisecond,
			MaxBackoff:     time.Duration(getN(item, aBackMax)) * time.Millisecond,
		},
		Start: getMs(item, aStartMs), End: getMs(item, aEndMs), State: schedule.State(getS(item, aState)),
		FlexWindow: time.Duration(getN(item, aFlex)) * time.Second, Misfire: schedule.Misfire(getS(item, aMisfire)),
		Generation: getN(item, aGen), Version: getN(item, aVer), PausedAt: getMs(item, aPausedMs),
		CreatedAt: getMs(item, aCreated), UpdatedAt: getMs(item, aUpdated),
		Name: getS(item, aName), Group: getS(item, aGroup), Description: getS(item, aDesc),
		AfterCompletion: schedule.AfterCompletion(getS(item, aAfter)), ClientToken: getS(item, aCToken),
		DeadLetterArn: getS(item, aDLA), MaxEventAge: time.Duration(getN(item, aMaxAge)) * time.Second,
	}
	if m, ok := item[aLabels].(*types.AttributeValueMemberM); ok && len(m.Value) > 0 {
		s.Labels = make(map[string]string, len(m.Value))
		for k, v := range m.Value {
			if sv, ok := v.(*types.AttributeValueMemberS); ok {
				s.Labels[k] = sv.Value
			}
		}
	}
	return s
}

// occurrenceItem is the record of occurrence task t.
func (s *Store) occurrenceItem(t *task.Task) map[string]types.AttributeValue {
	o := t.Occurrence
	return map[string]types.AttributeValue{
		aPK:      sAttr(occurrencePK(t.Tenant, o.Schedule)),
		aSK:      sAttr(fmt.Sprintf("%015d#%d", o.At.UnixMilli(), o.Generation)),
		aID:      sAttr(t.ID.String()),
		aDue:     msAttr(t.DueAt),
		aOccurAt: msAttr(o.At),
		aGen:     nAttr(o.Generation),
		aExpires: nAttr(t.DueAt.Add(s.retention).Unix()),
	}
}

// firstItems are the transaction items writing a schedule's first
// occurrence, if any.
func (s *Store) firstItems(first *task.Task) []types.TransactWriteItem {
	if first == nil {
		return nil
	}
	return []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: s.marshalTask(first), ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &s.table, Item: s.occurrenceItem(first)}},
	}
}

// CreateSchedule writes a new schedule and its first occurrence (if any)
// in one transaction; an existing ID is task.ErrConflict.
func (s *Store) CreateSchedule(ctx context.Context, sc *schedule.Schedule, first *task.Task) error {
	items := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: marshalSchedule(sc), ConditionExpression: aws.String("attribute_not_exists(pk)"),
	}}}, s.firstItems(first)...)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	var tce *types.TransactionCanceledException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &tce):
		return fmt.Errorf("create schedule %s: %w: %w", sc.ID, task.ErrConflict, err)
	}
	return fmt.Errorf("create schedule %s: %w", sc.ID, err)
}

// GetSchedule reads a tenant's schedule (strongly consistent).
func (s *Store) GetSchedule(ctx context.Context, tenant, id string) (*schedule.Schedule, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: scheduleKey(tenant, id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get schedule %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("get schedule %s: %w", id, task.ErrNotFound)
	}
	return unmarshalSchedule(out.Item), nil
}

// UpdateSchedule replaces a schedule whose stored version is prevVersion,
// writing first (if any) in the same transaction. A moved version is
// task.ErrConflict; a deleted schedule task.ErrNotFound.
func (s *Store) UpdateSchedule(ctx context.Context, sc *schedule.Schedule, prevVersion int64, first *task.Task) error {
	items := append([]types.TransactWriteItem{{Put: &types.Put{
		TableName: &s.table, Item: marshalSchedule(sc), ConditionExpression: aws.String("ver = :ver"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":ver": nAttr(prevVersion)},
	}}}, s.firstItems(first)...)
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return fmt.Errorf("update schedule %s: %w", sc.ID, err)
	}
	if _, gerr := s.GetSchedule(ctx, sc.Tenant, sc.ID); errors.Is(gerr, task.ErrNotFound) {
		return gerr
	}
	return fmt.Errorf("update schedule %s: changed concurrently: %w", sc.ID, task.ErrConflict)
}

// DeleteSchedule deletes a schedule. Its pending occurrences stay stored
// and are cancelled by the worker's check when they come due.
func (s *Store) DeleteSchedule(ctx context.Context, tenant, id string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: scheduleKey(tenant, id), ConditionExpression: aws.String("attribute_exists(pk)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("delete schedule %s: %w", id, task.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// DeleteScheduleIf deletes a schedule only while it is still in
// generation gen: a schedule changed since it was read (a new generation)
// is task.ErrConflict and stays; a deleted one is task.ErrNotFound. The
// chain's ActionAfterCompletion DELETE uses it, so an update landing
// between its read and its delete is not deleted with the old schedule.
func (s *Store) DeleteScheduleIf(ctx context.Context, tenant, id string, gen int64) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: &s.table, Key: scheduleKey(tenant, id),
		ConditionExpression:       aws.String("attribute_exists(pk) AND gen = :gen"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":gen": nAttr(gen)},
	})
	if isConditionFailed(err) {
		if _, gerr := s.GetSchedule(ctx, tenant, id); errors.Is(gerr, task.ErrNotFound) {
			return gerr
		}
		return fmt.Errorf("delete schedule %s: generation is no longer %d: %w", id, gen, task.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// ListSchedules returns one page of a tenant's schedules in ID order,
// strongly consistent: a group's delete must see every schedule created
// before it marked the group DELETING (app.Named.DeleteGroup).
func (s *Store) ListSchedules(ctx context.Context, tenant, after string, limit int32) ([]*schedule.Schedule, string, error) {
	return queryPage(ctx, s, schedulePK(tenant), after, limit, "list schedules", unmarshalSchedule)
}

// queryPage reads one page of the partition pk in sort-key order, strongly
// consistent, after the sort key after ("" from the start), decoding each
// item; next is the last sort key read, "" on the last page.
func queryPage[T any](ctx context.Context, s *Store, pk, after string, limit int32, what string, decode func(map[string]types.AttributeValue) T) ([]T, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr(pk)},
		Limit:                     aws.Int32(limit),
		ConsistentRead:            aws.Bool(true),
	}
	if after != "" {
		in.ExclusiveStartKey = map[string]types.AttributeValue{aPK: sAttr(pk), aSK: sAttr(after)}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", what, err)
	}
	list := make([]T, 0, len(out.Items))
	for _, it := range out.Items {
		list = append(list, decode(it))
	}
	next := ""
	if out.LastEvaluatedKey != nil {
		next = getS(out.LastEvaluatedKey, aSK)
	}
	return list, next, nil
}

// PutOccurrence stores an occurrence task — an existing one is no error:
// its ID is derived, so a duplicate chain collides on it, and created is
// false — and then its record (an idempotent overwrite).
func (s *Store) PutOccurrence(ctx context.Context, t *task.Task) (bool, error) {
	if t.Occurrence == nil {
		return false, fmt.Errorf("put occurrence %s: the task belongs to no schedule", t.ID)
	}
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: &s.table, Item: s.marshalTask(t), ConditionExpression: aws.String("attribute_not_exists(pk)"),
	})
	created := err == nil
	if err != nil && !isConditionFailed(err) {
		return false, fmt.Errorf("put occurrence %s: %w", t.ID, err)
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: s.occurrenceItem(t)}); err != nil {
		return false, fmt.Errorf("put occurrence record %s: %w", t.ID, err)
	}
	return created, nil
}

// Occurrences returns a schedule's latest occurrence records, newest first.
func (s *Store) Occurrences(ctx context.Context, tenant, id string, limit int32) ([]schedule.OccurrenceRecord, error) {
	out, err := s.db.Query(ctx, &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr(occurrencePK(tenant, id))},
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(limit),
	})
	if err != nil {
		return nil, fmt.Errorf("list occurrences of %s: %w", id, err)
	}
	recs := make([]schedule.OccurrenceRecord, 0, len(out.Items))
	for _, it := range out.Items {
		tid, err := task.ParseID(getS(it, aID))
		if err != nil {
			return nil, fmt.Errorf("decode occurrence %q of %s: %w", getS(it, aSK), id, err)
		}
		recs = append(recs, schedule.OccurrenceRecord{At: getMs(it, aOccurAt), Due: getMs(it, aDue), Generation: getN(it, aGen), TaskID: tid})
	}
	return recs, nil
}

// The store also serves the schedules' port.

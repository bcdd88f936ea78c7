// Package ddbstore is Hourglass's DynamoDB adapter: it keeps tasks in
// partitions keyed by time bucket and shard, moves them between states with
// conditional, version-fenced updates, and translates DynamoDB's errors into
// the domain's (task.ErrNotFound, task.ErrConflict).
//
// One table holds every item kind:
//
//	task         pk "<bucket start s>#<shard>"   sk "<due ms>#<id>"
//	client token pk "tok#<len(tenant)>#<tenant>#<token>" sk "tok"
//	scanner      pk "meta#scanner"                sk "cursor"
//	schedule     pk "sch#<len(tenant)>#<tenant>"  sk "<schedule id>"
//	occurrence   pk "occ#<len(tenant)>#<tenant>#<schedule id>" sk "<fire ms>#<generation>"
//	signing keys pk "ten#<len(tenant)>#<tenant>"  sk "signing"
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

// Store is the DynamoDB task store.
type Store struct {
	db        *dynamodb.Client
	table     string
	layout    task.Layout
	retention time.Duration
	// cancelCutoff: see Options.CancelCutoff.
	cancelCutoff time.Duration
	// listIndex: see Options.ListIndex.
	listIndex bool
}

// Options tunes a Store.
type Options struct {
	// Retention is how long finished tasks and client tokens are kept before
	// the TTL attribute lets DynamoDB delete them (default 30 days).
	Retention time.Duration
	// CancelCutoff, when positive, refuses to cancel a task from this long
	// before its run time on (task.ErrConflict with the task). Workers that
	// run without a claim (claim mode "none") need it: nothing in the item
	// shows that a worker holds the task, so a late cancel could report
	// CANCELLED for a task that runs. Zero: cancel until a worker claims it.
	CancelCutoff time.Duration
	// ListIndex writes the by_tenant index keys (IndexByTenant) on every
	// task item created, so that ListIDs finds it: one more write unit per
	// task. Off, no task item carries them and the index costs nothing;
	// turned on later, ListIDs finds only the tasks created from then on.
	ListIndex bool
}

// New returns a Store over table.
func New(db *dynamodb.Client, table string, layout task.Layout, opts Options) *Store {
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	return &Store{db: db, table: table, layout: layout, retention: opts.Retention, cancelCutoff: opts.CancelCutoff, listIndex: opts.ListIndex}
}

// Layout returns the bucket layout the store was built with.
func (s *Store) Layout() task.Layout { return s.layout }

// ListIndex reports whether new tasks are written to the by_tenant index
// (Options.ListIndex), that is whether ListIDs can list them.
func (s *Store) ListIndex() bool { return s.listIndex }

func (s *Store) key(id task.ID) map[string]types.AttributeValue {
	k := s.layout.KeyOf(id)
	return map[string]types.AttributeValue{aPK: sAttr(k.PK), aSK: sAttr(k.SK)}
}

// isConditionFailed reports DynamoDB's "condition not met".
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// Create writes a new task in state SCHEDULED. With a client token it is
// idempotent: the task and a token record are written in one transaction;
// when the token exists already, the task it names is returned with
// created=false, or task.ErrIdempotencyMismatch if reqHash differs.
func (s *Store) Create(ctx context.Context, t *task.Task, clientToken, reqHash string) (*task.Task, bool, error) {
	item := s.marshalTask(t)
	cond := aws.String("attribute_not_exists(pk)")
	if clientToken == "" {
		_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item, ConditionExpression: cond})
		if err != nil {
			if isConditionFailed(err) {
				// IDs carry 64 random bits: an item already there is almost
				// surely this very write, applied by an SDK attempt whose
				// answer was lost ("may have succeeded"). Ours if it matches.
				if cur, gerr := s.Get(ctx, t.ID); gerr == nil && cur.Tenant == t.Tenant &&
					cur.PayloadHash == t.PayloadHash && cur.CreatedAt.UnixMilli() == t.CreatedAt.UnixMilli() {
					return cur, true, nil
				}
				return nil, false, fmt.Errorf("create task %s: %w (ID collision)", t.ID, task.ErrConflict)
			}
			return nil, false, fmt.Errorf("create task %s: %w", t.ID, err)
		}
		return t, true, nil
	}
	tokKey := map[string]types.AttributeValue{aPK: sAttr(tokenKey(t.Tenant, clientToken)), aSK: sAttr("tok")}
	tok := map[string]types.AttributeValue{
		aPK: tokKey[aPK], aSK: tokKey[aSK],
		aID:      sAttr(t.ID.String()),
		"hash":   sAttr(reqHash),
		aExpires: nAttr(t.CreatedAt.Add(s.retention).Unix()),
	}
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &s.table, Item: item, ConditionExpression: cond}},
		{Put: &types.Put{TableName: &s.table, Item: tok, ConditionExpression: cond}},
	}})
	if err == nil {
		return t, true, nil
	}
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false, fmt.Errorf("create task %s: %w", t.ID, err)
	}
	// Most likely the token exists: read it (strongly) and answer with its task.
	out, gerr := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: tokKey, ConsistentRead: aws.Bool(true)})
	if gerr != nil {
		return nil, false, fmt.Errorf("create task %s: read client token: %w", t.ID, gerr)
	}
	if out.Item == nil {
		return nil, false, fmt.Errorf("create task %s: transaction cancelled: %w", t.ID, err)
	}
	if getS(out.Item, "hash") != reqHash {
		return nil, false, task.ErrIdempotencyMismatch
	}
	prev, perr := task.ParseID(getS(out.Item, aID))
	if perr != nil {
		return nil, false, fmt.Errorf("create task: client token names a bad ID: %w", perr)
	}
	existing, gerr := s.Get(ctx, prev)
	if gerr != nil {
		return nil, false, fmt.Errorf("create task: load task of client token: %w", gerr)
	}
	if existing.Tenant != t.Tenant {
		// The token key joins tenant and token with '#', which a tenant
		// taken from a JWT claim may contain ("a#b"+"c" = "a"+"b#c"): never
		// answer with another tenant's task.
		return nil, false, task.ErrIdempotencyMismatch
	}
	return existing, false, nil
}

// tokenKey is the partition key of a client token. The tenant is
// length-prefixed: tenants from JWT claims may contain '#', and "a#b"+"c"
// must not meet "a"+"b#c".
func tokenKey(tenant, token string) string {
	return "tok#" + strconv.Itoa(len(tenant)) + "#" + tenant + "#" + token
}

// Get reads a task by ID (strongly consistent). A missing task is
// task.ErrNotFound.
func (s *Store) Get(ctx context.Context, id task.ID) (*task.Task, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: s.key(id), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, fmt.Errorf("get task %s: %w", id, err)
	}
	if out.Item == nil {
		return nil, fmt.Errorf("get task %s: %w", id, task.ErrNotFound)
	}
	return unmarshalTask(out.Item)
}

// QueryScheduled returns one page of the SCHEDULED tasks of a (bucket,
// shard) partition in due order, strongly consistent so that a task written
// just before the query is seen. after is the previous page's next cursor;
// the returned cursor is empty on the last page.
func (s *Store) QueryScheduled(ctx context.Context, bucket int64, shard uint16, after string, limit int32) ([]*task.Task, string, error) {
	in := &dynamodb.QueryInput{
		TableName:                 &s.table,
		KeyConditionExpression:    aws.String("pk = :pk"),
		FilterExpression:          aws.String("#st = :sched"),
		ExpressionAttributeNames:  map[string]string{"#st": aState},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": sAttr(task.PartitionKey(bucket, shard)), ":sched": sAttr(string(task.Scheduled))},
		ConsistentRead:            aws.Bool(true),
		Limit:                     aws.Int32(limit),
	}
	if after != "" {
		in.ExclusiveStartKey = map[string]types.AttributeValue{aPK: sAttr(task.PartitionKey(bucket, shard)), aSK: sAttr(after)}
	}
	out, err := s.db.Query(ctx, in)
	if err != nil {
		return nil, "", fmt.Errorf("query partition %s: %w", task.PartitionKey(bucket, shard), err)
	}
	tasks := make([]*task.Task, 0, len(out.Items))
	for _, it := range out.Items {
		t, err := unmarshalTask(it)
		if err != nil {
			return nil, "", err
		}
		tasks = append(tasks, t)
	}
	next := ""
	if out.LastEvaluatedKey != nil {
		next = getS(out.LastEvaluatedKey, aSK)
	}
	return tasks, next, nil
}

// Cancel moves a tenant's task to CANCELLED if it has not started running.
// Cancelling a cancelled task returns it unchanged (idempotent). Another
// tenant's task is task.ErrNotFound; a running or finished one is
// task.ErrConflict, returned with the task.
func (s *Store) Cancel(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error) {
	return s.cancel(ctx, id, tenant, now, s.cancelCutoff)
}

// Withdraw cancels a task as Cancel does but without the cut-off: for the
// worker that holds the task's delivery and decided not to run it (a
// schedule's gate), where no call can be under way on its behalf.
func (s *Store) Withdraw(ctx context.Context, id task.ID, tenant string, now time.Time) (*task.Task, error) {
	return s.cancel(ctx, id, tenant, now, 0)
}

func (s *Store) cancel(ctx context.Context, id task.ID, tenant string, now time.Time, cutoff time.Duration) (*task.Task, error) {
	cond := "tenant = :tenant AND #st IN (:s1, :s3)"
	names := map[string]string{"#st": aState}
	vals := map[string]types.AttributeValue{
		":canc": sAttr(string(task.Cancelled)), ":one": nAttr(1), ":now": msAttr(now),
		":exp": nAttr(now.Add(s.retention).Unix()), ":tenant": sAttr(tenant),
		":s1": sAttr(string(task.Scheduled)), ":s3": sAttr(string(task.Retrying)),
	}
	if cutoff > 0 {
		// Without claims a worker may already be holding or calling a task
		// near its run time, and nothing in the item says so: refuse to
		// cancel from cancelCutoff before the run time on, rather than
		// report CANCELLED for a task that runs.
		cond = "tenant = :tenant AND ((#st = :s1 AND #due > :cut) OR (#st = :s3 AND #next > :cut))"
		names["#due"], names["#next"] = aDue, aNext
		vals[":cut"] = msAttr(now.Add(cutoff))
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       s.key(id),
		UpdateExpression:          aws.String("SET #st = :canc, ver = ver + :one, updated_ms = :now, finished_ms = :now, expires_at = :exp"),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err == nil {
		return unmarshalTask(out.Attributes)
	}
	if !isConditionFailed(err) {
		return nil, fmt.Errorf("cancel %s: %w", id, err)
	}
	cur, gerr := s.Get(ctx, id)
	if gerr != nil {
		return nil, gerr
	}
	switch {
	case cur.Tenant != tenant:
		return nil, fmt.Errorf("cancel %s: %w", id, task.ErrNotFound)
	case cur.State == task.Cancelled:
		return cur, nil
	case cur.State.Cancellable():
		return cur, fmt.Errorf("cancel %s: task runs at %s, within the %s cut-off: %w", id, cur.RunAt().UTC().Format(time.RFC3339Nano), cutoff, task.ErrConflict)
	default:
		return cur, fmt.Errorf("cancel %s: task is %s: %w", id, cur.State, task.ErrConflict)
	}
}

// Claim starts an attempt: the task moves to RUNNING under a lease held by
// owner until leaseUntil. It succeeds from SCHEDULED or RETRYING
// (once NextAt has passed), or from RUNNING whose lease has expired (the
// previous worker died). ph must match the stored payload hash, so a message
// for an older version of the task is refused. Anything else is
// task.ErrConflict.
func (s *Store) Claim(ctx context.Context, id task.ID, ph, owner string, now, leaseUntil time.Time) (*task.Task, error) {
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       s.key(id),
		// att_n is absent until the first claim (see marshalTask).
		UpdateExpression: aws.String("SET #st = :run, lease_owner = :owner, lease_ms = :lease, updated_ms = :now, att_n = if_not_exists(att_n, :zero) + :one, ver = ver + :one"),
		ConditionExpression: aws.String("ph = :ph AND (" +
			"(#st IN (:s1, :s3) AND (attribute_not_exists(next_ms) OR next_ms <= :now)) OR " +
			"(#st = :run AND lease_ms < :now))"),
		ExpressionAttributeNames: map[string]string{"#st": aState},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":run": sAttr(string(task.Running)), ":owner": sAttr(owner), ":lease": msAttr(leaseUntil),
			":now": msAttr(now), ":one": nAttr(1), ":zero": nAttr(0), ":ph": sAttr(ph),
			":s1": sAttr(string(task.Scheduled)), ":s3": sAttr(string(task.Retrying)),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return nil, fmt.Errorf("claim %s: %w", id, task.ErrConflict)
		}
		return nil, fmt.Errorf("claim %s: %w", id, err)
	}
	return unmarshalTask(out.Attributes)
}

// outcomeUpdate is the update an attempt's outcome makes, whatever fences
// it: state, version, the attempt appended, last_error and next_ms set or
// removed, and — for a final state — finished_ms and the TTL. drop names
// further attributes to remove (the lease, after a claimed attempt).
//
// A FAILED outcome also writes failed_sk, which puts the task in the sparse
// by_failed index (IndexByFailed) in this same write; any other outcome
// removes it.
func (s *Store) outcomeUpdate(id task.ID, o task.Outcome, drop []string) (set, remove string, vals map[string]types.AttributeValue) {
	state, a, nextAt, lastErr := o.State, o.Attempt, o.NextAt, o.LastError
	set = "SET #st = :state, ver = ver + :one, updated_ms = :now, attempts = list_append(if_not_exists(attempts, :empty), :att)"
	vals = map[string]types.AttributeValue{
		":state": sAttr(string(state)), ":one": nAttr(1), ":now": msAttr(a.EndedAt),
		":empty": &types.AttributeValueMemberL{Value: []types.AttributeValue{}},
		":att":   &types.AttributeValueMemberL{Value: []types.AttributeValue{marshalAttempt(a)}},
	}
	if lastErr != "" {
		set += ", last_error = :err"
		vals[":err"] = sAttr(lastErr)
	} else {
		drop = append(drop, "last_error")
	}
	if state == task.Retrying {
		set += ", next_ms = :next"
		vals[":next"] = msAttr(nextAt)
	} else {
		drop = append(drop, "next_ms")
	}
	if state == task.Failed {
		set += ", " + aFailedSK + " = :fsk"
		vals[":fsk"] = sAttr(s.layout.KeyOf(id).SK)
	} else {
		drop = append(drop, aFailedSK)
	}
	if state.Terminal() {
		set += ", finished_ms = :now, expires_at = :exp"
		vals[":exp"] = nAttr(a.EndedAt.Add(s.retention).Unix())
	}
	if len(drop) > 0 {
		remove = " REMOVE " + strings.Join(drop, ", ")
	}
	return set, remove, vals
}

// Finish records the end of the attempt owner holds: the attempt is appended
// and the task moves to o.State (SUCCEEDED, FAILED or RETRYING with o.NextAt).
// If owner no longer holds the lease — it expired and another worker took
// over — the write is fenced off with task.ErrConflict.
func (s *Store) Finish(ctx context.Context, id task.ID, owner string, o task.Outcome) (*task.Task, error) {
	set, remove, vals := s.outcomeUpdate(id, o, []string{"lease_owner", "lease_ms"})
	vals[":run"], vals[":owner"] = sAttr(string(task.Running)), sAttr(owner)
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       s.key(id),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String("#st = :run AND lease_owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#st": aState},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return nil, fmt.Errorf("finish %s: lease lost: %w", id, task.ErrConflict)
		}
		return nil, fmt.Errorf("finish %s: %w", id, err)
	}
	return unmarshalTask(out.Attributes)
}

// Settle records the outcome of an attempt made without a claim (claim
// mode "none", two writes per task: create and outcome). prev is the task
// as the worker read it, with AttemptN already counting this attempt. The
// write is fenced on prev's version: if anything changed the task since it
// was read — another delivery recorded an outcome, the task was cancelled,
// updated or redriven — it is refused with task.ErrConflict and nothing is
// recorded, so concurrent duplicates leave one outcome.
func (s *Store) Settle(ctx context.Context, prev *task.Task, o task.Outcome) (*task.Task, error) {
	set, remove, vals := s.outcomeUpdate(prev.ID, o, nil)
	set += ", att_n = :n"
	vals[":n"], vals[":ver"] = nAttr(int64(prev.AttemptN)), nAttr(prev.Version)
	vals[":s1"], vals[":s3"] = sAttr(string(task.Scheduled)), sAttr(string(task.Retrying))
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       s.key(prev.ID),
		UpdateExpression:          aws.String(set + remove),
		ConditionExpression:       aws.String("ver = :ver AND #st IN (:s1, :s3)"),
		ExpressionAttributeNames:  map[string]string{"#st": aState},
		ExpressionAttributeValues: vals,
		ReturnValues:              types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return nil, fmt.Errorf("settle %s: the task changed since it was read: %w", prev.ID, task.ErrConflict)
		}
		return nil, fmt.Errorf("settle %s: %w", prev.ID, err)
	}
	return unmarshalTask(out.Attributes)
}

var cursorKey = map[string]types.AttributeValue{aPK: sAttr("meta#scanner"), aSK: sAttr("cursor")}

// GetCursor reads the scanner cursor (strongly consistent).
func (s *Store) GetCursor(ctx context.Context) (task.Cursor, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: cursorKey, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return task.Cursor{}, fmt.Errorf("read scanner cursor: %w", err)
	}
	if out.Item == nil {
		return task.Cursor{}, nil
	}
	return task.Cursor{
		Dispatching: getN(out.Item, "dispatching"),
		Fanned:      getN(out.Item, "fanned"),
		Swept:       getN(out.Item, "swept"),
		Shards:      int(getN(out.Item, "shards")),
		Exists:      true,
	}, nil
}

// SetCursorField raises one cursor field ("dispatching", "fanned" or
// "swept") to v; it never lowers it, so racing scanners cannot move it back.
func (s *Store) SetCursorField(ctx context.Context, field string, v int64) error {
	switch field {
	case "dispatching", "fanned", "swept":
	default:
		return fmt.Errorf("set scanner cursor: unknown field %q", field)
	}
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       cursorKey,
		UpdateExpression:          aws.String("SET #f = :v"),
		ConditionExpression:       aws.String("attribute_not_exists(#f) OR #f < :v"),
		ExpressionAttributeNames:  map[string]string{"#f": field},
		ExpressionAttributeValues: map[string]types.AttributeValue{":v": nAttr(v)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("set scanner cursor %s=%d: %w", field, v, err)
	}
	return nil
}

// EnsureCursor creates the scanner cursor if it is missing — starting it at
// the bucket before now's, so no earlier partition is ever scanned for
// nothing — and raises the recorded shard count to shards (never lowers it).
// Every writer and the scanner call it once at start, before writing a task
// on a new shard.
func (s *Store) EnsureCursor(ctx context.Context, shards int, now time.Time) error {
	start := s.layout.BucketOf(now) - int64(s.layout.Bucket/time.Second)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       cursorKey,
		UpdateExpression: aws.String("SET shards = :n, dispatching = if_not_exists(dispatching, :b), " +
			"fanned = if_not_exists(fanned, :b), swept = if_not_exists(swept, :b)"),
		ConditionExpression:       aws.String("attribute_not_exists(shards) OR shards < :n"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":n": nAttr(int64(shards)), ":b": nAttr(start)},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("initialise scanner cursor (shards %d): %w", shards, err)
	}
	return nil
}

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

// Redrive gives a FAILED task a fresh budget of attempts more attempts:
// under a version condition (so a concurrent change wins) it moves to
// RETRYING, claimable from now, with its total attempt limit raised to the
// attempts already made plus attempts. Attempt numbers keep counting and
// the attempts list keeps the history; the finished time and the TTL
// attribute are removed, so a redriven task is never cleaned up early, and
// so is failed_sk, which takes it out of the by_failed index.
//
// Redrive does not send the task's message: the caller does, after this
// returns (see package redrive). A task that is not FAILED, or changed since
// it was read, is task.ErrConflict, returned with the current task.
func (s *Store) Redrive(ctx context.Context, id task.ID, now time.Time, attempts int) (*task.Task, error) {
	if attempts < 1 {
		return nil, fmt.Errorf("redrive %s: attempts must be at least 1, not %d", id, attempts)
	}
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if cur.State != task.Failed {
		return cur, fmt.Errorf("redrive %s: task is %s, not FAILED: %w", id, cur.State, task.ErrConflict)
	}
	out, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: &s.table,
		Key:       s.key(id),
		UpdateExpression: aws.String("SET #st = :retry, next_ms = :now, max_att = :max, ver = ver + :one, updated_ms = :now " +
			"REMOVE finished_ms, expires_at, lease_owner, lease_ms, " + aFailedSK),
		ConditionExpression:      aws.String("#st = :failed AND ver = :ver"),
		ExpressionAttributeNames: map[string]string{"#st": aState},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":retry": sAttr(string(task.Retrying)), ":failed": sAttr(string(task.Failed)),
			":now": msAttr(now), ":max": nAttr(int64(cur.AttemptN + attempts)), ":one": nAttr(1),
			":ver": nAttr(cur.Version),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			return cur, fmt.Errorf("redrive %s: changed concurrently: %w", id, task.ErrConflict)
		}
		return nil, fmt.Errorf("redrive %s: %w", id, err)
	}
	return unmarshalTask(out.Attributes)
}

// The store serves the redrive tool.

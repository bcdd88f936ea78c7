package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Pipeline is the raw pipeline (issue 18): a minimal client, without
// Hourglass, making against the same emulators the calls a task costs in
// the default mode — the create's conditional PutItem, per partition a
// cursor read (GetItem) and a Query, SendMessageBatch ten to a call,
// ReceiveMessage ten to a call, per received batch a BatchGetItem and a
// DeleteMessageBatch, and per task the outcome's UpdateItem — with the
// local host's concurrency: 8 writers, a dispatcher per partition sending
// up to 10 batches at once, one receive loop handing batches to up to 64
// handlers. Dispatch runs before the receive loop starts, as the
// look-ahead dispatches before the due time, so the tasks wait in the
// queue (at its full depth, which the emulator's receive cost grows with)
// when execution starts. TasksPerS is tasks ÷ (create time + execute
// time), as the throughput scenario's end_to_end_per_s counts it: the
// dispatch (DispatchS) is hidden in its lead, and so left out here too.
type Pipeline struct {
	Tasks        int                `json:"tasks"`
	Partitions   int                `json:"partitions"`
	CreateS      float64            `json:"create_s"`
	DispatchS    float64            `json:"dispatch_s"` // not in TasksPerS: the look-ahead hides it
	ExecuteS     float64            `json:"execute_s"`
	TasksPerS    float64            `json:"tasks_per_s"`
	Executed     int                `json:"executed"`
	CallsPerTask map[string]float64 `json:"calls_per_task"`
	Errors       int64              `json:"errors"`
}

// measurePipeline runs the raw pipeline for n tasks over partitions
// partitions on a table and queue of its own (deleted afterwards).
func measurePipeline(ctx context.Context, cfg aws.Config, prefix string, n, partitions int) (Pipeline, error) {
	p := Pipeline{Tasks: n, Partitions: partitions, CallsPerTask: map[string]float64{}}
	db := dynamodb.NewFromConfig(cfg)
	q := sqs.NewFromConfig(cfg)
	table := prefix + "-pipe"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &table, BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
	})
	if err != nil {
		return p, fmt.Errorf("pipeline: create table: %w", err)
	}
	defer func() {
		_, _ = db.DeleteTable(context.WithoutCancel(ctx), &dynamodb.DeleteTableInput{TableName: &table})
	}()
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "-pipe")})
	if err != nil {
		return p, fmt.Errorf("pipeline: create queue: %w", err)
	}
	defer func() { _, _ = q.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: qo.QueueUrl}) }()
	s := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	num := func(v int64) ddbtypes.AttributeValue {
		return &ddbtypes.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
	}
	cursorKey := map[string]ddbtypes.AttributeValue{"pk": s("meta#scanner"), "sk": s("cursor")}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{"pk": s("meta#scanner"), "sk": s("cursor"), "dispatching": num(0)}}); err != nil {
		return p, fmt.Errorf("pipeline: cursor: %w", err)
	}

	var (
		mu     sync.Mutex
		calls  = map[string]int{}
		errs   atomic.Int64
		called = func(op string, err error) {
			mu.Lock()
			calls[op]++
			mu.Unlock()
			if err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				errs.Add(1)
			}
		}
	)
	// A task item about the size of Hourglass's (17 attributes, ~400 bytes).
	target := `{"url":"http://127.0.0.1:9/hook"}`
	payload := `{"n":0,"note":"loadgen"}` + strings.Repeat(" ", 40)
	due := time.Now().Add(time.Minute).UnixMilli()
	item := func(i int) map[string]ddbtypes.AttributeValue {
		id := fmt.Sprintf("06h3ood128%016d", i)
		it := map[string]ddbtypes.AttributeValue{"pk": s("b#" + strconv.Itoa(i%partitions)), "sk": s(fmt.Sprintf("%d#%s", due, id)),
			"id": s(id), "tenant": s("bench-tp"), "due": num(due), "kind": s("webhook"), "target": s(target), "payload": s(payload),
			"max_attempts": num(5), "backoff_init": num(1000), "backoff_max": num(60000), "state": s("SCHEDULED"), "ver": num(1),
			"ph": s("0123456789abcdef0123456789abcdef"), "attempts": num(0), "created": num(due - 60000), "updated": num(due - 60000)}
		return it
	}

	// 1: creates, 8 writers.
	start := time.Now()
	next := atomic.Int64{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1)) - 1; i < n && ctx.Err() == nil; i = int(next.Add(1)) - 1 {
				_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: item(i), ConditionExpression: aws.String("attribute_not_exists(pk)")})
				called("DynamoDB.PutItem", err)
			}
		}()
	}
	wg.Wait()
	created := time.Now()
	p.CreateS = created.Sub(start).Seconds()

	// 2: dispatch, every partition at once, ahead of the due time as the
	// look-ahead does: the tasks wait in the queue when it ends.
	dispatchStart := time.Now()
	var disp sync.WaitGroup
	for part := 0; part < partitions; part++ {
		disp.Add(1)
		go func(part int) {
			defer disp.Done()
			_, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &table, Key: cursorKey, ConsistentRead: aws.Bool(true)})
			called("DynamoDB.GetItem", err)
			var bodies []string
			in := &dynamodb.QueryInput{TableName: &table, KeyConditionExpression: aws.String("pk = :pk"),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":pk": s("b#" + strconv.Itoa(part))}, ConsistentRead: aws.Bool(true)}
			for {
				out, err := db.Query(ctx, in)
				called("DynamoDB.Query", err)
				if err != nil {
					return
				}
				for _, it := range out.Items {
					bodies = append(bodies, it["pk"].(*ddbtypes.AttributeValueMemberS).Value+"|"+it["sk"].(*ddbtypes.AttributeValueMemberS).Value)
				}
				if out.LastEvaluatedKey == nil {
					break
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
			sem := make(chan struct{}, 10)
			var sends sync.WaitGroup
			for at := 0; at < len(bodies); at += 10 {
				entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, 10)
				for j := at; j < min(at+10, len(bodies)); j++ {
					entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(bodies[j])})
				}
				sends.Add(1)
				sem <- struct{}{}
				go func() {
					defer sends.Done()
					defer func() { <-sem }()
					_, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: qo.QueueUrl, Entries: entries})
					called("SQS.SendMessageBatch", err)
				}()
			}
			sends.Wait()
		}(part)
	}
	disp.Wait()
	p.DispatchS = round3(time.Since(dispatchStart).Seconds())

	// 3: execute: one receive loop handing batches to up to 64 handlers.
	execStart := time.Now()
	wctx, stopWork := context.WithTimeout(ctx, 90*time.Second)
	defer stopWork()
	var (
		done     atomic.Int64
		seen     sync.Map
		finished = make(chan struct{})
		last     atomic.Int64
	)
	var work sync.WaitGroup
	work.Add(1)
	go func() {
		defer work.Done()
		sem := make(chan struct{}, 64)
		var handlers sync.WaitGroup
		defer handlers.Wait()
		for wctx.Err() == nil {
			select {
			case <-finished:
				return
			default:
			}
			out, err := q.ReceiveMessage(wctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30})
			if wctx.Err() != nil {
				return // stopped: every task done, or out of time
			}
			called("SQS.ReceiveMessage", err)
			if err != nil || len(out.Messages) == 0 {
				continue
			}
			sem <- struct{}{}
			handlers.Add(1)
			go func(msgs []sqstypes.Message) {
				defer handlers.Done()
				defer func() { <-sem }()
				keys := make([]map[string]ddbtypes.AttributeValue, 0, len(msgs))
				uniq := map[string]bool{}
				for _, m := range msgs {
					pk, sk, _ := strings.Cut(aws.ToString(m.Body), "|")
					if !uniq[pk+sk] {
						uniq[pk+sk] = true
						keys = append(keys, map[string]ddbtypes.AttributeValue{"pk": s(pk), "sk": s(sk)})
					}
				}
				_, err := db.BatchGetItem(wctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]ddbtypes.KeysAndAttributes{table: {Keys: keys, ConsistentRead: aws.Bool(true)}}})
				called("DynamoDB.BatchGetItem", err)
				var each sync.WaitGroup
				for _, k := range keys {
					each.Add(1)
					go func(k map[string]ddbtypes.AttributeValue) {
						defer each.Done()
						_, err := db.UpdateItem(wctx, &dynamodb.UpdateItemInput{TableName: &table, Key: k,
							UpdateExpression:          aws.String("SET #st = :done, ver = ver + :one, attempts = :one, updated = :now"),
							ConditionExpression:       aws.String("ver = :ver"),
							ExpressionAttributeNames:  map[string]string{"#st": "state"},
							ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":done": s("SUCCEEDED"), ":one": num(1), ":ver": num(1), ":now": num(time.Now().UnixMilli())}})
						called("DynamoDB.UpdateItem", err)
						if _, dup := seen.LoadOrStore(k["sk"].(*ddbtypes.AttributeValueMemberS).Value, true); !dup {
							last.Store(time.Now().UnixNano())
							if done.Add(1) == int64(n) {
								close(finished)
							}
						}
					}(k)
				}
				each.Wait()
				entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(msgs))
				for j, m := range msgs {
					entries[j] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: m.ReceiptHandle}
				}
				_, err = q.DeleteMessageBatch(wctx, &sqs.DeleteMessageBatchInput{QueueUrl: qo.QueueUrl, Entries: entries})
				called("SQS.DeleteMessageBatch", err)
			}(out.Messages)
		}
	}()
	select {
	case <-finished:
	case <-wctx.Done():
	}
	stopWork()
	work.Wait()
	p.Executed = int(done.Load())
	if l := last.Load(); l > 0 {
		p.ExecuteS = round3(time.Unix(0, l).Sub(execStart).Seconds())
	}
	p.CreateS = round3(p.CreateS)
	if busy := p.CreateS + p.ExecuteS; p.Executed > 0 && busy > 0 {
		p.TasksPerS = round3(float64(p.Executed) / busy)
	}
	for op, c := range calls {
		p.CallsPerTask[op] = round3(float64(c) / float64(n))
	}
	p.Errors = errs.Load()
	if p.Executed < n {
		return p, fmt.Errorf("pipeline: %d of %d tasks executed within 90 s", p.Executed, n)
	}
	return p, nil
}

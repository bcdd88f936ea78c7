package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// emulators are the moto servers this run started through
// scripts/emulator.sh (which leaves servers it did not start alone).
type emulators struct {
	script string
	ports  []string
}

func startEmulators(root string, ports ...string) (*emulators, error) {
	e := &emulators{script: filepath.Join(root, "scripts", "emulator.sh"), ports: ports}
	cmd := exec.Command(e.script, append([]string{"start"}, ports...)...) //nolint:gosec // our own script; ports from our flags
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("start emulators on %s: %w", strings.Join(ports, ", "), err)
	}
	return e, nil
}

func (e *emulators) stop() {
	cmd := exec.Command(e.script, append([]string{"stop"}, e.ports...)...) //nolint:gosec // our own script; ports from our flags
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	_ = cmd.Run()
}

// Raw is the emulator's own rate for the two calls a task's path leans on,
// measured with the same SDK and client count as the local host uses.
type Raw struct {
	PutItemPerS          float64 `json:"putitem_per_s"`
	SendBatchMsgsPerS    float64 `json:"sendmessagebatch_msgs_per_s"`
	Clients              int     `json:"clients"`
	Seconds              float64 `json:"seconds_each"`
	PutItemErrors        int64   `json:"putitem_errors"`
	SendBatchErrors      int64   `json:"sendmessagebatch_errors"`
	TwoEmulatorProcesses bool    `json:"two_emulator_processes"`
	// ReceiveRace shows, on the emulator alone, concurrent receivers
	// getting one message ID twice within its visibility: the cause the
	// load runs count as duplicates_by_cause.emulator_receive.
	ReceiveRace ReceiveRace `json:"receive_race"`
}

// measureRaw hammers a fresh table with PutItem and a fresh queue with
// SendMessageBatch (10 messages of ~60 bytes, like a dispatcher's) from
// clients goroutines for d each.
func measureRaw(ctx context.Context, cfg aws.Config, prefix string, clients int, d time.Duration) (Raw, error) {
	raw := Raw{Clients: clients, Seconds: d.Seconds()}
	db := dynamodb.NewFromConfig(cfg)
	table := prefix + "-raw"
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: &table, BillingMode: ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}, {AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}, {AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange}},
	})
	if err != nil {
		return raw, fmt.Errorf("raw: create table: %w", err)
	}
	q := sqs.NewFromConfig(cfg)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(prefix + "-raw")})
	if err != nil {
		return raw, fmt.Errorf("raw: create queue: %w", err)
	}
	var errs atomic.Int64
	n := hammer(ctx, clients, d, func(c, i int) {
		if err := rawPutItem(ctx, db, table, c, i, 0); err != nil {
			errs.Add(1)
		}
	})
	raw.PutItemPerS, raw.PutItemErrors = float64(n-errs.Load())/d.Seconds(), errs.Load()
	errs.Store(0)
	body := `{"id":"06H2ABCDEFGHIJKLMNOPQRSTUV","ph":"0123456789abcdef"}`
	n = hammer(ctx, clients, d, func(c, i int) {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 10)
		for j := range entries {
			entries[j] = sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(body), DelaySeconds: 600}
		}
		if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: qo.QueueUrl, Entries: entries}); err != nil {
			errs.Add(1)
		}
	})
	raw.SendBatchMsgsPerS, raw.SendBatchErrors = float64(10*(n-errs.Load()))/d.Seconds(), errs.Load()
	_, _ = q.DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: qo.QueueUrl})
	_, _ = db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: &table})
	if raw.ReceiveRace, err = measureReceiveRace(ctx, cfg, prefix+"-raw-race", 500, clients); err != nil {
		return raw, err
	}
	return raw, nil
}

// rawPutPayload is the raw PutItem's third attribute.
var rawPutPayload = strings.Repeat("x", 200)

// rawPutItem is the raw PutItem call that measureRaw times, and the create
// scenario's raw step too: a 3-attribute item (pk, sk, a 200-byte p) under
// attribute_not_exists(pk), from client c's i-th call. round keeps
// repeated phases on one table apart (0: measureRaw's keys).
func rawPutItem(ctx context.Context, db *dynamodb.Client, table string, c, i, round int) error {
	sk := fmt.Sprintf("%d#%d", i, c)
	if round > 0 {
		sk += "#r" + strconv.Itoa(round)
	}
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{
		"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("%d#%d", c, i%16)},
		"sk": &ddbtypes.AttributeValueMemberS{Value: sk},
		"p":  &ddbtypes.AttributeValueMemberS{Value: rawPutPayload},
	}, ConditionExpression: aws.String("attribute_not_exists(pk)")})
	return err
}

// hammer runs call from clients goroutines until d passes and returns the
// number of calls made (timed, counting one per call).
func hammer(ctx context.Context, clients int, d time.Duration, call func(client, i int)) int64 {
	n, _ := timed(ctx, clients, d, func(c, i int) int64 { call(c, i); return 1 })
	return n
}

// ReceiveRace is the emulator alone, without Hourglass code, showing its
// ReceiveMessage race: Messages sent at once to a fresh queue, received by
// Receivers concurrent loops that never delete, all within one visibility
// timeout. A correct queue hands each message to one receive; every
// further receive of a message ID (DuplicateReceives) is the emulator's.
type ReceiveRace struct {
	Messages          int     `json:"messages"`
	Receivers         int     `json:"receivers"`
	VisibilityS       float64 `json:"visibility_s"`
	Receives          int     `json:"receives"`           // messages received, duplicates included
	Distinct          int     `json:"distinct"`           // message IDs received
	DuplicateReceives int     `json:"duplicate_receives"` // Receives − Distinct: same ID again within its visibility
	Seconds           float64 `json:"seconds"`
}

// measureReceiveRace runs the ReceiveRace probe on a queue of its own
// (deleted afterwards).
func measureReceiveRace(ctx context.Context, cfg aws.Config, name string, messages, receivers int) (ReceiveRace, error) {
	const visibility = 30 * time.Second
	r := ReceiveRace{Messages: messages, Receivers: receivers, VisibilityS: visibility.Seconds()}
	q := sqs.NewFromConfig(cfg)
	qo, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout): strconv.Itoa(int(visibility / time.Second)),
	}})
	if err != nil {
		return r, fmt.Errorf("receive race: create queue: %w", err)
	}
	defer func() { _, _ = q.DeleteQueue(context.WithoutCancel(ctx), &sqs.DeleteQueueInput{QueueUrl: qo.QueueUrl}) }()
	for sent := 0; sent < messages; sent += 10 {
		entries := make([]sqstypes.SendMessageBatchRequestEntry, 0, 10)
		for j := sent; j < min(sent+10, messages); j++ {
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), MessageBody: aws.String(`{"n":` + strconv.Itoa(j) + `}`)})
		}
		if _, err := q.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: qo.QueueUrl, Entries: entries}); err != nil {
			return r, fmt.Errorf("receive race: send: %w", err)
		}
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
	)
	start := time.Now()
	// Stop well inside the visibility: any second receive of an ID is then
	// a receive within its visibility.
	deadline := start.Add(visibility - 10*time.Second)
	var firstErr atomic.Value
	for c := 0; c < receivers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for empty := 0; empty < 3 && time.Now().Before(deadline) && ctx.Err() == nil; {
				out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: qo.QueueUrl, MaxNumberOfMessages: 10,
					VisibilityTimeout: int32(visibility / time.Second)})
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
				if len(out.Messages) == 0 {
					empty++
					continue
				}
				empty = 0
				mu.Lock()
				for _, m := range out.Messages {
					seen[aws.ToString(m.MessageId)]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	r.Seconds = time.Since(start).Seconds()
	if err, ok := firstErr.Load().(error); ok {
		return r, fmt.Errorf("receive race: receive: %w", err)
	}
	for _, n := range seen {
		r.Receives += n
	}
	r.Distinct = len(seen)
	r.DuplicateReceives = r.Receives - r.Distinct
	return r, nil
}

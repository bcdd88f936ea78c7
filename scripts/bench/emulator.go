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
	payload := strings.Repeat("x", 200)
	var errs atomic.Int64
	n := hammer(ctx, clients, d, func(c, i int) {
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &table, Item: map[string]ddbtypes.AttributeValue{
			"pk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("%d#%d", c, i%16)},
			"sk": &ddbtypes.AttributeValueMemberS{Value: fmt.Sprintf("%d#%d", i, c)},
			"p":  &ddbtypes.AttributeValueMemberS{Value: payload},
		}, ConditionExpression: aws.String("attribute_not_exists(pk)")})
		if err != nil {
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
	return raw, nil
}

// hammer runs call from clients goroutines until d passes and returns the
// number of calls made.
func hammer(ctx context.Context, clients int, d time.Duration, call func(client, i int)) int64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; time.Now().Before(deadline) && ctx.Err() == nil; i++ {
				call(c, i)
				n.Add(1)
			}
		}(c)
	}
	wg.Wait()
	return n.Load()
}

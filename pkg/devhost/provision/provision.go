// Package provision creates Hourglass's tables, queues, event bus and
// ingest rule in an AWS emulator
// (make dev, integration tests). In AWS the CDK stack creates them; names and
// settings here mirror the stack's.
package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// Spec names the resources to create.
type Spec struct {
	Prefix string // resource name prefix (default "hourglass")
	// TaskVisibility is the task queue's visibility timeout (default 30s);
	// the worker's lease must be shorter.
	TaskVisibility time.Duration
	// MaxReceives before a message goes to its DLQ (default 10).
	MaxReceives int
	// Bus is the Hourglass event bus (default: Prefix, so "hourglass").
	Bus string
}

// Resources are what was created.
type Resources struct {
	Table        string
	ScanQueueURL string
	ScanDLQURL   string
	TaskQueueURL string
	TaskDLQURL   string
	// BusName and BusARN are the Hourglass event bus; IngestQueueURL and
	// IngestDLQURL the ingest queue (fed by the bus's CreateTask rule) and
	// its dead-letter queue.
	BusName        string
	BusARN         string
	IngestQueueURL string
	IngestDLQURL   string
}

// Ensure creates the table and queues if they do not exist and waits until
// the table is active. It is idempotent.
func Ensure(ctx context.Context, cfg aws.Config, spec Spec) (Resources, error) {
	if spec.Prefix == "" {
		spec.Prefix = "hourglass"
	}
	if spec.TaskVisibility <= 0 {
		spec.TaskVisibility = 30 * time.Second
	}
	if spec.MaxReceives <= 0 {
		spec.MaxReceives = 10
	}
	res := Resources{Table: spec.Prefix + "-tasks"}
	if err := ensureTable(ctx, dynamodb.NewFromConfig(cfg), res.Table); err != nil {
		return res, err
	}
	q := sqs.NewFromConfig(cfg)
	var err error
	if res.ScanQueueURL, res.ScanDLQURL, err = ensureQueue(ctx, q, spec.Prefix+"-scan", 60*time.Second, spec.MaxReceives); err != nil {
		return res, err
	}
	if res.TaskQueueURL, res.TaskDLQURL, err = ensureQueue(ctx, q, spec.Prefix+"-tasks", spec.TaskVisibility, spec.MaxReceives); err != nil {
		return res, err
	}
	if res.BusName = spec.Bus; res.BusName == "" {
		res.BusName = spec.Prefix
	}
	if err := ensureIngest(ctx, cfg, spec, &res); err != nil {
		return res, err
	}
	return res, nil
}

// taskIndexes are the table's global secondary indexes, each with its key
// attributes. Mirrors infra/stack.go.
//
//   - by_tenant lists a tenant's tasks (GET /v1/tasks). KEYS_ONLY, and its
//     keys are written only at create: claims and outcomes never write to
//     it (see ddbstore.IndexByTenant). Created always, written only with
//     HOURGLASS_LIST_INDEX=1, so listing can be switched on without a
//     table change.
//   - by_failed lists a tenant's FAILED tasks (GET /v1/tasks?state=FAILED),
//     sparse: only a FAILED outcome writes its sort key (see
//     ddbstore.IndexByFailed).
var taskIndexes = []struct{ name, pk, sk string }{
	{"by_tenant", "gsi1pk", "gsi1sk"},
	{"by_failed", "tenant", "failed_sk"},
}

func indexDef(name, pk, sk string) (ddbtypes.GlobalSecondaryIndex, []ddbtypes.AttributeDefinition) {
	return ddbtypes.GlobalSecondaryIndex{
			IndexName: aws.String(name),
			KeySchema: []ddbtypes.KeySchemaElement{
				{AttributeName: aws.String(pk), KeyType: ddbtypes.KeyTypeHash},
				{AttributeName: aws.String(sk), KeyType: ddbtypes.KeyTypeRange},
			},
			Projection: &ddbtypes.Projection{ProjectionType: ddbtypes.ProjectionTypeKeysOnly},
		}, []ddbtypes.AttributeDefinition{
			{AttributeName: aws.String(pk), AttributeType: ddbtypes.ScalarAttributeTypeS},
			{AttributeName: aws.String(sk), AttributeType: ddbtypes.ScalarAttributeTypeS},
		}
}

func ensureTable(ctx context.Context, db *dynamodb.Client, name string) error {
	attrs := []ddbtypes.AttributeDefinition{
		{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
		{AttributeName: aws.String("sk"), AttributeType: ddbtypes.ScalarAttributeTypeS},
	}
	var gsis []ddbtypes.GlobalSecondaryIndex
	for _, ix := range taskIndexes {
		g, defs := indexDef(ix.name, ix.pk, ix.sk)
		gsis, attrs = append(gsis, g), append(attrs, defs...)
	}
	_, err := db.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            &name,
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: attrs,
		KeySchema: []ddbtypes.KeySchemaElement{
			{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash},
			{AttributeName: aws.String("sk"), KeyType: ddbtypes.KeyTypeRange},
		},
		GlobalSecondaryIndexes: gsis,
	})
	var inUse *ddbtypes.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", name, err)
	}
	created := err == nil
	if err := dynamodb.NewTableExistsWaiter(db).Wait(ctx, &dynamodb.DescribeTableInput{TableName: &name}, time.Minute); err != nil {
		return fmt.Errorf("wait for table %s: %w", name, err)
	}
	if created {
		_, err = db.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{TableName: &name,
			TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String("expires_at"), Enabled: aws.Bool(true)}})
		if err != nil {
			return fmt.Errorf("enable TTL on %s: %w", name, err)
		}
		return nil
	}
	return ensureIndexes(ctx, db, name)
}

// ensureIndexes adds the indexes missing from a table created before they
// existed (a long-lived dev emulator), one per UpdateTable as DynamoDB
// requires. Tasks written before then carry no index keys and are not
// listed; everything else works on them.
func ensureIndexes(ctx context.Context, db *dynamodb.Client, name string) error {
	desc, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &name})
	if err != nil {
		return fmt.Errorf("describe table %s: %w", name, err)
	}
	have := map[string]bool{}
	for _, g := range desc.Table.GlobalSecondaryIndexes {
		have[aws.ToString(g.IndexName)] = true
	}
	for _, ix := range taskIndexes {
		if have[ix.name] {
			continue
		}
		g, defs := indexDef(ix.name, ix.pk, ix.sk)
		_, err = db.UpdateTable(ctx, &dynamodb.UpdateTableInput{
			TableName:            &name,
			AttributeDefinitions: defs,
			GlobalSecondaryIndexUpdates: []ddbtypes.GlobalSecondaryIndexUpdate{{Create: &ddbtypes.CreateGlobalSecondaryIndexAction{
				IndexName: g.IndexName, KeySchema: g.KeySchema, Projection: g.Projection,
			}}},
		})
		if err != nil {
			return fmt.Errorf("add index %s to %s: %w", ix.name, name, err)
		}
	}
	return nil
}

func ensureQueue(ctx context.Context, q *sqs.Client, name string, visibility time.Duration, maxReceives int) (url, dlqURL string, err error) {
	dlq, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name + "-dlq"), Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(14 * 24 * 3600),
	}})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s-dlq: %w", name, err)
	}
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: dlq.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", "", fmt.Errorf("read ARN of %s-dlq: %w", name, err)
	}
	redrive, _ := json.Marshal(map[string]string{
		"deadLetterTargetArn": attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)],
		"maxReceiveCount":     strconv.Itoa(maxReceives),
	})
	main, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name, Attributes: map[string]string{
		string(sqstypes.QueueAttributeNameVisibilityTimeout):      strconv.Itoa(int(visibility / time.Second)),
		string(sqstypes.QueueAttributeNameMessageRetentionPeriod): strconv.Itoa(4 * 24 * 3600),
		string(sqstypes.QueueAttributeNameRedrivePolicy):          string(redrive),
	}})
	if err != nil {
		return "", "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(main.QueueUrl), aws.ToString(dlq.QueueUrl), nil
}

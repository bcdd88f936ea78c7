package awstest_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// setupMoto returns an Env, skipping the test when the backend is not moto:
// only moto isolates by account.
func setupMoto(t *testing.T) *awstest.Env {
	t.Helper()
	env := awstest.New(t)
	if env.Backend != awstest.Moto {
		t.Skipf("account isolation is moto's; the backend is %s", env.Backend)
	}
	return env
}

func TestAccountHeaderReachesMoto(t *testing.T) {
	t.Parallel()
	env := setupMoto(t)

	out, err := sts.NewFromConfig(env.Config).GetCallerIdentity(context.Background(), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity: %v", err)
	}
	if got := aws.ToString(out.Account); got != env.AccountID {
		t.Fatalf("moto says the caller is in account %s, want the Env's %s", got, env.AccountID)
	}
}

func TestAccountsIsolateQueues(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := setupMoto(t), setupMoto(t)
	if a.AccountID == b.AccountID {
		t.Fatalf("two Envs share account %s", a.AccountID)
	}
	qa, qb := sqs.NewFromConfig(a.Config), sqs.NewFromConfig(b.Config)
	name := a.Name("jobs")

	created, err := qa.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatalf("CreateQueue in account A: %v", err)
	}
	if _, err := qa.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)}); err != nil {
		t.Fatalf("account A cannot see its own queue: %v", err)
	}

	_, err = qb.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if nf := (*sqstypes.QueueDoesNotExist)(nil); !errors.As(err, &nf) {
		t.Fatalf("GetQueueUrl in account B = %v, want QueueDoesNotExist", err)
	}
	listed, err := qb.ListQueues(ctx, &sqs.ListQueuesInput{})
	if err != nil {
		t.Fatalf("ListQueues in account B: %v", err)
	}
	if slices.Contains(listed.QueueUrls, aws.ToString(created.QueueUrl)) {
		t.Fatalf("account B lists account A's queue %s", aws.ToString(created.QueueUrl))
	}

	// The same fixed name is free in B, and a message sent there stays there.
	createdB, err := qb.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(b.Name("jobs"))})
	if err != nil {
		t.Fatalf("CreateQueue with the same name in account B: %v", err)
	}
	if _, err := qb.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: createdB.QueueUrl, MessageBody: aws.String("for B")}); err != nil {
		t.Fatalf("SendMessage in account B: %v", err)
	}
	got, err := qa.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: created.QueueUrl, WaitTimeSeconds: 0})
	if err != nil {
		t.Fatalf("ReceiveMessage in account A: %v", err)
	}
	if len(got.Messages) != 0 {
		t.Fatalf("account A received %d message(s) sent in account B", len(got.Messages))
	}
}

func TestAccountsIsolateTables(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := setupMoto(t), setupMoto(t)
	da, db := dynamodb.NewFromConfig(a.Config), dynamodb.NewFromConfig(b.Config)
	name := a.Name("tasks")

	_, err := da.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          ddbtypes.BillingModePayPerRequest,
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
	})
	if err != nil {
		t.Fatalf("CreateTable in account A: %v", err)
	}
	_, err = db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(b.Name("tasks"))})
	if nf := (*ddbtypes.ResourceNotFoundException)(nil); !errors.As(err, &nf) {
		t.Fatalf("DescribeTable in account B = %v, want ResourceNotFoundException", err)
	}
}

func TestEndpointMatchesEnv(t *testing.T) {
	t.Parallel()
	env := awstest.New(t)
	if got := awstest.Endpoint(t); got != env.Endpoint {
		t.Fatalf("Endpoint() = %q, Env.Endpoint = %q", got, env.Endpoint)
	}
	if got := aws.ToString(env.Config.BaseEndpoint); got != env.Endpoint {
		t.Fatalf("Config.BaseEndpoint = %q, want %q", got, env.Endpoint)
	}
	if env.Config.Region != awstest.Region {
		t.Fatalf("Config.Region = %q, want %q", env.Config.Region, awstest.Region)
	}
}

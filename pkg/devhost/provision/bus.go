package provision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// IngestDetailTypes are the detail-types the ingest rule sends to the ingest
// queue (as the CDK stack's IngestRule does).
var IngestDetailTypes = []string{"CreateTask", "CreateSchedule"}

// EnsureBus creates the event bus name if it does not exist and returns
// its ARN. The default bus ("default") always exists.
func EnsureBus(ctx context.Context, eb *eventbridge.Client, name string) (string, error) {
	if name != "default" {
		_, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &name})
		var exists *ebtypes.ResourceAlreadyExistsException
		if err != nil && !errors.As(err, &exists) {
			return "", fmt.Errorf("create event bus %s: %w", name, err)
		}
	}
	out, err := eb.DescribeEventBus(ctx, &eventbridge.DescribeEventBusInput{Name: &name})
	if err != nil {
		return "", fmt.Errorf("describe event bus %s: %w", name, err)
	}
	return aws.ToString(out.Arn), nil
}

// RuleToQueue creates (or updates) rule on bus with the event pattern and
// makes queueURL its only target, allowing EventBridge to send to the
// queue. It is what a user's own rule looks like, and what the ingest rule
// is locally: the emulator's EventBridge delivers to SQS targets.
func RuleToQueue(ctx context.Context, cfg aws.Config, bus, rule string, pattern map[string]any, queueURL string) error {
	q := sqs.NewFromConfig(cfg)
	attrs, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &queueURL,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return fmt.Errorf("read ARN of queue %s: %w", queueURL, err)
	}
	queueARN := attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)]
	pat, err := json.Marshal(pattern)
	if err != nil {
		return fmt.Errorf("encode pattern of rule %s: %w", rule, err)
	}
	eb := eventbridge.NewFromConfig(cfg)
	r, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: &rule, EventBusName: &bus, EventPattern: aws.String(string(pat)), State: ebtypes.RuleStateEnabled})
	if err != nil {
		return fmt.Errorf("put rule %s on bus %s: %w", rule, bus, err)
	}
	policy, _ := json.Marshal(map[string]any{
		"Version": "2012-10-17",
		"Statement": []map[string]any{{
			"Effect": "Allow", "Principal": map[string]string{"Service": "events.amazonaws.com"}, "Action": "sqs:SendMessage",
			"Resource": queueARN, "Condition": map[string]any{"ArnEquals": map[string]string{"aws:SourceArn": aws.ToString(r.RuleArn)}},
		}},
	})
	if _, err := q.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &queueURL,
		Attributes: map[string]string{string(sqstypes.QueueAttributeNamePolicy): string(policy)}}); err != nil {
		return fmt.Errorf("allow rule %s to send to %s: %w", rule, queueURL, err)
	}
	out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: &rule, EventBusName: &bus,
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: &queueARN}}})
	if err != nil {
		return fmt.Errorf("put target of rule %s: %w", rule, err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("put target of rule %s: %s", rule, aws.ToString(out.FailedEntries[0].ErrorMessage))
	}
	return nil
}

// EnsureQueue creates a plain queue (no dead-letter queue) if it does not
// exist and returns its URL: for a test's or user's rule target.
func EnsureQueue(ctx context.Context, cfg aws.Config, name string) (string, error) {
	out, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: &name})
	if err != nil {
		return "", fmt.Errorf("create queue %s: %w", name, err)
	}
	return aws.ToString(out.QueueUrl), nil
}

// ensureIngest creates the bus, the ingest queue and its DLQ, and the
// ingest rule (CreateTask, CreateSchedule → ingest queue).
func ensureIngest(ctx context.Context, cfg aws.Config, spec Spec, res *Resources) error {
	var err error
	if res.BusARN, err = EnsureBus(ctx, eventbridge.NewFromConfig(cfg), res.BusName); err != nil {
		return err
	}
	if res.IngestQueueURL, res.IngestDLQURL, err = ensureQueue(ctx, sqs.NewFromConfig(cfg), spec.Prefix+"-ingest", 30*time.Second, spec.MaxReceives); err != nil {
		return err
	}
	pattern := map[string]any{"detail-type": IngestDetailTypes}
	return RuleToQueue(ctx, cfg, res.BusName, spec.Prefix+"-ingest", pattern, res.IngestQueueURL)
}

// Package sqstarget is the SQS target: it sends the task's payload as a
// message to a queue the deployment may write to.
//
// Target object:
//
//	{"kind": "sqs", "queue_url": "https://sqs.<region>.amazonaws.com/<account>/<name>",
//	 "message_group_id": "optional, FIFO queues only",
//	 "role_arn": "optional: the role to assume for a queue of another account (target.RoleField)"}
//
// The message body is the payload (JSON). Message attributes carry
// Hourglass-Task-Id, Hourglass-Attempt and Idempotency-Key; on a FIFO queue the
// deduplication ID is derived from the idempotency key, so SQS itself drops a
// duplicate delivery within its five-minute window.
package sqstarget

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/hourglass-sched/hourglass/pkg/target"
)

// Kind is the target kind this package serves.
const Kind = "sqs"

// Spec is the target object.
type Spec struct {
	Kind           string `json:"kind"`
	QueueURL       string `json:"queue_url"`
	MessageGroupID string `json:"message_group_id,omitempty"`
}

// Sender is the one SQS call the target makes.
type Sender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Executor sends task payloads to SQS.
type Executor struct {
	c     Sender
	roles target.Roles
}

var _ target.Executor = (*Executor)(nil)

// New returns the SQS executor.
func New(c Sender) *Executor { return &Executor{c: c} }

// AssumeWith makes e send to queues of other accounts with the
// credentials of the spec's role_arn (target.RoleField), from roles.
func (e *Executor) AssumeWith(roles target.Roles) *Executor { e.roles = roles; return e }

// Kind returns "sqs".
func (*Executor) Kind() string { return Kind }

func parse(raw json.RawMessage) (Spec, []target.FieldError) {
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, []target.FieldError{{Field: "queue_url", Reason: "target must be an object with a string queue_url"}}
	}
	var errs []target.FieldError
	u, err := url.Parse(s.QueueURL)
	switch {
	case s.QueueURL == "":
		errs = append(errs, target.FieldError{Field: "queue_url", Reason: "is required"})
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.Count(strings.Trim(u.Path, "/"), "/") != 1:
		errs = append(errs, target.FieldError{Field: "queue_url", Reason: "must be a queue URL like https://sqs.us-east-1.amazonaws.com/123456789012/my-queue"})
	}
	fifo := strings.HasSuffix(s.QueueURL, ".fifo")
	if fifo && s.MessageGroupID == "" {
		errs = append(errs, target.FieldError{Field: "message_group_id", Reason: "is required for a FIFO queue"})
	}
	if !fifo && s.MessageGroupID != "" {
		errs = append(errs, target.FieldError{Field: "message_group_id", Reason: "is only allowed for FIFO queues (.fifo)"})
	}
	if len(s.MessageGroupID) > 128 {
		errs = append(errs, target.FieldError{Field: "message_group_id", Reason: "must be at most 128 bytes"})
	}
	return s, errs
}

// Validate checks the target object.
func (*Executor) Validate(spec json.RawMessage) []target.FieldError {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(spec, &probe); err == nil {
		for k := range probe {
			if k != "kind" && k != "queue_url" && k != "message_group_id" && k != target.RoleField {
				_, errs := parse(spec)
				errs = append(errs, target.ValidateRole(spec)...)
				return append(errs, target.FieldError{Field: k, Reason: "unknown field"})
			}
		}
	}
	_, errs := parse(spec)
	return append(errs, target.ValidateRole(spec)...)
}

// Execute sends the payload.
func (e *Executor) Execute(ctx context.Context, inv target.Invocation) (target.Result, error) {
	s, errs := parse(inv.Spec)
	if len(errs) > 0 {
		return target.Result{}, target.Permanent(fmt.Errorf("invalid sqs target: %s %s", errs[0].Field, errs[0].Reason))
	}
	body := string(inv.Payload)
	if body == "" {
		body = "null"
	}
	in := &sqs.SendMessageInput{
		QueueUrl:    &s.QueueURL,
		MessageBody: &body,
		MessageAttributes: map[string]types.MessageAttributeValue{
			"Hourglass-Task-Id": {DataType: aws.String("String"), StringValue: aws.String(inv.TaskID)},
			"Hourglass-Attempt": {DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(inv.Attempt))},
			"Idempotency-Key":   {DataType: aws.String("String"), StringValue: aws.String(inv.IdempotencyKey)},
		},
	}
	if s.MessageGroupID != "" {
		sum := sha256.Sum256([]byte(inv.IdempotencyKey))
		in.MessageGroupId = &s.MessageGroupID
		in.MessageDeduplicationId = aws.String(hex.EncodeToString(sum[:]))
	}
	var opts []func(*sqs.Options)
	if a, ok := e.Address(inv.Spec); ok {
		creds, err := target.CallerCredentials(ctx, e.roles, inv, a)
		if err != nil {
			return target.Result{}, err
		}
		if creds != nil {
			opts = append(opts, func(o *sqs.Options) { o.Credentials = creds })
		}
	}
	out, err := e.c.SendMessage(ctx, in, opts...)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			switch ae.ErrorCode() {
			case "AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist", "AccessDenied", "AccessDeniedException",
				"InvalidParameterValue", "InvalidMessageContents", "KMS.AccessDeniedException":
				return target.Result{}, target.Permanent(fmt.Errorf("sqs send: %w", err))
			}
		}
		return target.Result{}, fmt.Errorf("sqs send: %w", err)
	}
	return target.Result{Summary: "message " + aws.ToString(out.MessageId)}, nil
}

// sqsHost matches the hosts of SQS queue URLs: sqs.<region>.amazonaws.com
// (.cn in China) and the legacy <region>.queue.amazonaws.com.
var sqsHost = regexp.MustCompile(`^(?:sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?|([a-z0-9-]+)\.queue\.amazonaws\.com(\.cn)?)$`)

// Address names the queue a spec sends to: its name and account from the
// URL's path, its region from the host (empty for an emulator's host; the
// legacy queue.amazonaws.com is us-east-1).
func (*Executor) Address(spec json.RawMessage) (target.Address, bool) {
	s, errs := parse(spec)
	if len(errs) > 0 && s.QueueURL == "" {
		return target.Address{}, false
	}
	u, err := url.Parse(s.QueueURL)
	if err != nil {
		return target.Address{}, false
	}
	account, name, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return target.Address{}, false
	}
	a := target.Address{Field: "queue_url", Service: "sqs", Account: account, Resource: name, Name: name}
	host := strings.ToLower(u.Hostname())
	switch m := sqsHost.FindStringSubmatch(host); {
	case host == "queue.amazonaws.com":
		a.Region = "us-east-1"
	case m != nil:
		a.Region = m[1] + m[3]
		if m[2]+m[4] != "" {
			a.Partition = "aws-cn"
		}
	}
	return a, true
}

var _ target.Addresser = (*Executor)(nil)

// Package ebtarget is the EventBridge target: it puts one event on a bus
// with the task's source and detail-type, the payload as its detail.
//
// Target object:
//
//	{"kind": "eventbridge", "bus": "name or arn:aws:events:<region>:<account>:event-bus/<name>",
//	 "source": "com.example.orders", "detail_type": "OrderReminder",
//	 "envelope": false}
//
// EventBridge requires the detail to be a JSON object. A payload that is an
// object is the detail as is; any other payload (a string, an array, none)
// is sent as {"payload": <payload>}. PutEvents carries no attributes, so the
// idempotency key reaches the receiver only with "envelope": true, which
// sends target.Envelope ({"hourglass": {task_id, tenant, attempt,
// idempotency_key, due_at}, "payload": …}) as the detail.
//
// Failures: a rejected entry (FailedEntryCount > 0) is retried when its
// error code is a throttle or an internal error, and fails the task at once
// otherwise (malformed detail, not authorized for the source); a missing
// bus, denied access or invalid request fails at once; anything else —
// network errors, throttling of the call — is retried.
package ebtarget

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/smithy-go"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Kind is the target kind this package serves.
const Kind = "eventbridge"

// LifecycleSource is the source of Hourglass's lifecycle events
// (events.Source), which no task may use.
const LifecycleSource = "hourglass"

// Spec is the target object.
type Spec struct {
	Kind       string `json:"kind"`
	Bus        string `json:"bus"`
	Source     string `json:"source"`
	DetailType string `json:"detail_type"`
	Envelope   bool   `json:"envelope,omitempty"`
}

// Putter is the one EventBridge call the target makes.
type Putter interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// Executor puts task payloads on EventBridge buses.
type Executor struct {
	c     Putter
	roles target.Roles
}

var _ target.Executor = (*Executor)(nil)

// New returns the EventBridge executor.
func New(c Putter) *Executor { return &Executor{c: c} }

// AssumeWith makes e call targets of other accounts with the credentials
// of the spec's role_arn (target.RoleField), from roles.
func (e *Executor) AssumeWith(roles target.Roles) *Executor { e.roles = roles; return e }

// Kind returns "eventbridge".
func (*Executor) Kind() string { return Kind }

var (
	busName = regexp.MustCompile(`^[A-Za-z0-9/._-]{1,256}$`)
	busARN  = regexp.MustCompile(`^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9/._-]{1,256}$`)
)

func parse(raw json.RawMessage) (Spec, []target.FieldError) {
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, []target.FieldError{{Field: "bus", Reason: "target must be an object with string bus, source and detail_type"}}
	}
	var errs []target.FieldError
	switch {
	case s.Bus == "":
		errs = append(errs, target.FieldError{Field: "bus", Reason: "is required (an event bus name or ARN)"})
	case !busName.MatchString(s.Bus) && !busARN.MatchString(s.Bus):
		errs = append(errs, target.FieldError{Field: "bus", Reason: "must be an event bus name ([A-Za-z0-9/._-], ≤ 256) or an ARN like arn:aws:events:us-east-1:123456789012:event-bus/orders"})
	}
	switch {
	case s.Source == "":
		errs = append(errs, target.FieldError{Field: "source", Reason: "is required"})
	case len(s.Source) > 256 || !task.Printable(s.Source):
		errs = append(errs, target.FieldError{Field: "source", Reason: "must be at most 256 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	case strings.HasPrefix(s.Source, "aws."):
		errs = append(errs, target.FieldError{Field: "source", Reason: `must not start with "aws." (reserved for AWS services)`})
	case strings.EqualFold(s.Source, LifecycleSource):
		// On any bus, consumers take source "hourglass" for Hourglass's
		// own lifecycle events; a task must not forge them.
		errs = append(errs, target.FieldError{Field: "source", Reason: `must not be "hourglass" (reserved for Hourglass's lifecycle events)`})
	}
	switch {
	case s.DetailType == "":
		errs = append(errs, target.FieldError{Field: "detail_type", Reason: "is required"})
	case len(s.DetailType) > 128 || !task.Printable(s.DetailType):
		errs = append(errs, target.FieldError{Field: "detail_type", Reason: "must be at most 128 bytes of printable UTF-8 (no control, bidi or line-separator characters)"})
	}
	return s, errs
}

// Validate checks the target object.
func (*Executor) Validate(spec json.RawMessage) []target.FieldError {
	_, errs := parse(spec)
	errs = append(errs, target.ValidateRole(spec)...)
	return append(errs, target.UnknownFields(spec, "bus", "source", "detail_type", "envelope", target.RoleField)...)
}

// Detail returns the event detail for inv under spec s.
func Detail(s Spec, inv target.Invocation) (string, error) {
	if s.Envelope {
		b, err := target.Wrap(inv)
		return string(b), err
	}
	p := bytes.TrimSpace(inv.Payload)
	if len(p) > 0 && p[0] == '{' {
		return string(p), nil
	}
	if len(p) == 0 {
		p = []byte("null")
	}
	b, err := json.Marshal(map[string]json.RawMessage{"payload": p})
	if err != nil {
		return "", fmt.Errorf("encode detail of task %s: %w", inv.TaskID, err)
	}
	return string(b), nil
}

// retryableEntryCodes are per-entry PutEvents error codes worth another
// attempt; every other code is permanent.
var retryableEntryCodes = map[string]bool{
	"ThrottlingException": true, "InternalException": true, "InternalFailure": true, "ServiceUnavailable": true,
}

// permanentCallCodes are whole-call errors that retrying cannot fix.
var permanentCallCodes = map[string]bool{
	"ResourceNotFoundException": true, "AccessDeniedException": true, "ValidationException": true,
	"InvalidParameterValueException": true, "NotAuthorizedForSourceException": true,
}

// Execute puts the event.
func (e *Executor) Execute(ctx context.Context, inv target.Invocation) (target.Result, error) {
	s, errs := parse(inv.Spec)
	if len(errs) > 0 {
		return target.Result{}, target.Permanent(fmt.Errorf("invalid eventbridge target: %s %s", errs[0].Field, errs[0].Reason))
	}
	detail, err := Detail(s, inv)
	if err != nil {
		return target.Result{}, target.Permanent(err)
	}
	var opts []func(*eventbridge.Options)
	if a, ok := e.Address(inv.Spec); ok {
		creds, err := target.CallerCredentials(ctx, e.roles, inv, a)
		if err != nil {
			return target.Result{}, err
		}
		if creds != nil {
			opts = append(opts, func(o *eventbridge.Options) { o.Credentials = creds })
		}
	}
	out, err := e.c.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{{
		EventBusName: aws.String(s.Bus), Source: aws.String(s.Source), DetailType: aws.String(s.DetailType), Detail: aws.String(detail),
	}}}, opts...)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && permanentCallCodes[ae.ErrorCode()] {
			return target.Result{}, target.Permanent(fmt.Errorf("eventbridge put to %s: %w", s.Bus, err))
		}
		return target.Result{}, fmt.Errorf("eventbridge put to %s: %w", s.Bus, err)
	}
	if len(out.Entries) != 1 {
		return target.Result{}, fmt.Errorf("eventbridge put to %s: %d result entries for 1 event", s.Bus, len(out.Entries))
	}
	ent := out.Entries[0]
	if out.FailedEntryCount > 0 || ent.ErrorCode != nil {
		code := aws.ToString(ent.ErrorCode)
		err := fmt.Errorf("eventbridge put to %s: entry rejected: %s: %s", s.Bus, code, aws.ToString(ent.ErrorMessage))
		if retryableEntryCodes[code] {
			return target.Result{}, err
		}
		return target.Result{}, target.Permanent(err)
	}
	return target.Result{Summary: "event " + aws.ToString(ent.EventId)}, nil
}

var _ target.Addresser = (*Executor)(nil)

// Address names the bus a spec puts events on: an ARN's parts, or a bare
// name (its region and account are the caller's, left empty here).
func (*Executor) Address(spec json.RawMessage) (target.Address, bool) {
	var s Spec
	if json.Unmarshal(spec, &s) != nil || s.Bus == "" {
		return target.Address{}, false
	}
	a := target.Address{Field: "bus", Service: "events", Name: s.Bus, Resource: "event-bus/" + s.Bus}
	if strings.HasPrefix(s.Bus, "arn:") {
		parts := strings.SplitN(s.Bus, ":", 6)
		if len(parts) != 6 || !strings.HasPrefix(parts[5], "event-bus/") {
			return target.Address{}, false
		}
		a.Partition, a.Region, a.Account, a.Resource = parts[1], parts[3], parts[4], parts[5]
		a.Name = strings.TrimPrefix(parts[5], "event-bus/")
	}
	return a, true
}

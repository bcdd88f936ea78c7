// Package lambdatarget is the Lambda target: it invokes a function with the
// task's payload.
//
// Target object:
//
//	{"kind": "lambda", "function": "name, name:alias, or arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]",
//	 "invocation_type": "RequestResponse" | "Event", "envelope": false}
//
// invocation_type defaults to RequestResponse: the attempt waits for the
// function and records its outcome, so a function error fails the attempt
// (and is retried with backoff). The function must then finish within the
// worker's execution budget (the lease minus a margin); longer functions
// should use Event, where Lambda queues the invocation, the attempt succeeds
// once Lambda accepted it (202), and the function's own failures are
// Lambda's asynchronous retries' business, not Hourglass's.
//
// The payload is the function's event as is. On a synchronous invocation the
// client context carries Custom {"hourglass-task-id", "hourglass-attempt",
// "idempotency-key"}; Lambda drops client context on Event invocations, so
// to reach the function there the idempotency key needs "envelope": true,
// which sends target.Envelope as the event instead.
//
// A function error is recognised by Lambda's X-Amz-Function-Error header
// and, because the Runtime Interface Emulator sends no such header, also by
// the error's shape: a JSON object with string errorMessage and errorType
// and no keys but those, stackTrace and requestId (as package lambdarie
// recognises it). A function that returns exactly such an object on success
// is therefore counted as failed.
package lambdatarget

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go"

	"github.com/hourglass-sched/hourglass/pkg/target"
)

// Kind is the target kind this package serves.
const Kind = "lambda"

// Invocation types.
const (
	RequestResponse = "RequestResponse"
	Event           = "Event"
)

// Spec is the target object.
type Spec struct {
	Kind           string `json:"kind"`
	Function       string `json:"function"`
	InvocationType string `json:"invocation_type,omitempty"`
	Envelope       bool   `json:"envelope,omitempty"`
}

// Invoker is the one Lambda call the target makes.
type Invoker interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// Executor invokes Lambda functions.
type Executor struct {
	c     Invoker
	roles target.Roles
}

var _ target.Executor = (*Executor)(nil)

// New returns the Lambda executor.
func New(c Invoker) *Executor { return &Executor{c: c} }

// AssumeWith makes e call targets of other accounts with the credentials
// of the spec's role_arn (target.RoleField), from roles.
func (e *Executor) AssumeWith(roles target.Roles) *Executor { e.roles = roles; return e }

// Kind returns "lambda".
func (*Executor) Kind() string { return Kind }

// functionRef accepts what Invoke's FunctionName accepts: a name, a partial
// ARN (account:function:name) or a full ARN, each with an optional
// version or alias qualifier.
var functionRef = regexp.MustCompile(`^(arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(-gov)?-[a-z]+-\d{1}:)?(\d{12}:)?(function:)?[a-zA-Z0-9_.-]+(:(\$LATEST|[a-zA-Z0-9_-]+))?$`)

func parse(raw json.RawMessage) (Spec, []target.FieldError) {
	var s Spec
	if err := json.Unmarshal(raw, &s); err != nil {
		return s, []target.FieldError{{Field: "function", Reason: "target must be an object with a string function"}}
	}
	var errs []target.FieldError
	switch {
	case s.Function == "":
		errs = append(errs, target.FieldError{Field: "function", Reason: "is required (a function name, name:alias or ARN)"})
	case len(s.Function) > 170 || !functionRef.MatchString(s.Function):
		errs = append(errs, target.FieldError{Field: "function", Reason: "must be a function name, name:alias or ARN like arn:aws:lambda:us-east-1:123456789012:function:my-fn"})
	}
	switch s.InvocationType {
	case "":
		s.InvocationType = RequestResponse
	case RequestResponse, Event:
	default:
		errs = append(errs, target.FieldError{Field: "invocation_type", Reason: `must be "RequestResponse" (default) or "Event"`})
	}
	return s, errs
}

// Validate checks the target object.
func (*Executor) Validate(spec json.RawMessage) []target.FieldError {
	_, errs := parse(spec)
	errs = append(errs, target.ValidateRole(spec)...)
	return append(errs, target.UnknownFields(spec, "function", "invocation_type", "envelope", target.RoleField)...)
}

// permanentCodes are Invoke errors that retrying cannot fix.
var permanentCodes = map[string]bool{
	"ResourceNotFoundException": true, "AccessDeniedException": true, "InvalidParameterValueException": true,
	"RequestTooLargeException": true, "InvalidRequestContentException": true, "UnsupportedMediaTypeException": true,
	"ValidationException": true,
}

// maxClientContext is Lambda's limit on the base64 client context.
const maxClientContext = 3583

// Execute invokes the function.
func (e *Executor) Execute(ctx context.Context, inv target.Invocation) (target.Result, error) {
	s, errs := parse(inv.Spec)
	if len(errs) > 0 {
		return target.Result{}, target.Permanent(fmt.Errorf("invalid lambda target: %s %s", errs[0].Field, errs[0].Reason))
	}
	payload := []byte(inv.Payload)
	if s.Envelope {
		var err error
		if payload, err = target.Wrap(inv); err != nil {
			return target.Result{}, target.Permanent(err)
		}
	}
	if len(payload) == 0 {
		payload = []byte("null")
	}
	in := &lambda.InvokeInput{FunctionName: aws.String(s.Function), Payload: payload, InvocationType: types.InvocationType(s.InvocationType)}
	if s.InvocationType == RequestResponse {
		cc, _ := json.Marshal(map[string]map[string]string{"custom": {
			"hourglass-task-id": inv.TaskID, "hourglass-attempt": strconv.Itoa(inv.Attempt), "idempotency-key": inv.IdempotencyKey,
		}})
		if enc := base64.StdEncoding.EncodeToString(cc); len(enc) <= maxClientContext {
			in.ClientContext = aws.String(enc)
		}
	}
	var opts []func(*lambda.Options)
	if a, ok := e.Address(inv.Spec); ok {
		creds, err := target.CallerCredentials(ctx, e.roles, inv, a)
		if err != nil {
			return target.Result{}, err
		}
		if creds != nil {
			opts = append(opts, func(o *lambda.Options) { o.Credentials = creds })
		}
	}
	out, err := e.c.Invoke(ctx, in, opts...)
	if err != nil {
		var ae smithy.APIError
		if errors.As(err, &ae) && permanentCodes[ae.ErrorCode()] {
			return target.Result{}, target.Permanent(fmt.Errorf("lambda invoke %s: %w", s.Function, err))
		}
		return target.Result{}, fmt.Errorf("lambda invoke %s: %w", s.Function, err)
	}
	res := target.Result{StatusCode: int(out.StatusCode)}
	if s.InvocationType == Event {
		res.Summary = "invocation queued"
		return res, nil
	}
	if fe := functionError(out); fe != nil {
		res.Summary = truncate(string(out.Payload), 256)
		return res, fmt.Errorf("lambda invoke %s: %w", s.Function, fe)
	}
	res.Summary = truncate(string(out.Payload), 256)
	return res, nil
}

// FunctionError is an error the invoked function returned (or its runtime
// reported for it).
type FunctionError struct {
	// Kind is X-Amz-Function-Error ("Unhandled", "Handled"), or "Unhandled"
	// when only the payload's shape told.
	Kind    string
	Type    string // errorType
	Message string // errorMessage
}

// Error returns the function's error type and message.
func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error (%s): %s: %s", e.Kind, e.Type, e.Message)
}

var errorKeys = map[string]bool{"errorMessage": true, "errorType": true, "stackTrace": true, "requestId": true}

func functionError(out *lambda.InvokeOutput) *FunctionError {
	var body struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	if out.FunctionError != nil {
		fe := &FunctionError{Kind: aws.ToString(out.FunctionError)}
		if json.Unmarshal(out.Payload, &body) == nil {
			fe.Type, fe.Message = aws.ToString(body.Type), aws.ToString(body.Message)
		}
		if fe.Message == "" {
			fe.Message = truncate(string(out.Payload), 256)
		}
		return fe
	}
	if typ, msg, ok := errorShape(out.Payload); ok {
		return &FunctionError{Kind: "Unhandled", Type: typ, Message: msg}
	}
	return nil
}

// errorShape reports whether payload is Lambda's error object: a JSON
// object with string errorMessage and errorType and no keys but those,
// stackTrace and requestId.
func errorShape(payload []byte) (typ, msg string, ok bool) {
	p := bytes.TrimSpace(payload)
	if len(p) == 0 || p[0] != '{' {
		return "", "", false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(p, &fields); err != nil {
		return "", "", false
	}
	for k := range fields {
		if !errorKeys[k] {
			return "", "", false
		}
	}
	var body struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	if err := json.Unmarshal(p, &body); err != nil || body.Type == nil || body.Message == nil {
		return "", "", false
	}
	return *body.Type, *body.Message, true
}

// truncate keeps the first n bytes of s, cut on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

var _ target.Addresser = (*Executor)(nil)

// Address names the function a spec invokes, without its version or
// alias: a full ARN's parts, a partial ARN's account, or a bare name.
func (*Executor) Address(spec json.RawMessage) (target.Address, bool) {
	var s Spec
	if json.Unmarshal(spec, &s) != nil || s.Function == "" {
		return target.Address{}, false
	}
	a := target.Address{Field: "function", Service: "lambda"}
	f := s.Function
	if strings.HasPrefix(f, "arn:") {
		parts := strings.SplitN(f, ":", 6)
		if len(parts) != 6 {
			return target.Address{}, false
		}
		a.Partition, a.Region, a.Account, f = parts[1], parts[3], parts[4], parts[5]
	} else if acct, rest, ok := strings.Cut(f, ":"); ok && len(acct) == 12 && strings.HasPrefix(rest, "function:") {
		a.Account, f = acct, rest
	}
	f = strings.TrimPrefix(f, "function:")
	a.Name, _, _ = strings.Cut(f, ":") // drop the qualifier
	a.Resource = "function:" + a.Name
	return a, a.Name != ""
}

package target

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
)

// Address is the AWS resource a target spec names, split into the parts
// of its ARN. A part the spec does not say (a bus given by name has no
// region or account) is empty.
type Address struct {
	// Field is the target field that names the resource ("queue_url",
	// "bus", "function"), for the error a refusal reports.
	Field     string
	Service   string // "sqs", "events" or "lambda"
	Partition string // "aws" when empty
	Region    string
	Account   string
	// Resource is the ARN's resource part: "orders" (a queue),
	// "event-bus/orders", "function:orders" (no version or alias).
	Resource string
	// Name is the resource's own name: queue, bus or function name.
	Name string
}

// ARN is the address as an ARN; empty parts stay empty
// (arn:aws:events:::event-bus/orders), which only a * matches.
func (a Address) ARN() string {
	p := a.Partition
	if p == "" {
		p = "aws"
	}
	return "arn:" + p + ":" + a.Service + ":" + a.Region + ":" + a.Account + ":" + a.Resource
}

// Addresser is implemented by the executors whose targets are AWS
// resources (SQS, EventBridge, Lambda): it says which resource a spec
// names, so that Guard can refuse Hourglass's own and the ones a tenant
// may not target. ok is false when spec names none (it is invalid).
type Addresser interface {
	Address(spec json.RawMessage) (a Address, ok bool)
}

// DefaultFunctionPrefix starts the name of every Lambda function of the
// Hourglass stack; no lambda target may name a function starting with it.
const DefaultFunctionPrefix = "hourglass-"

// Own names Hourglass's own resources. No target may address them: a task
// that put a CreateTask event on the Hourglass bus, or a message on its
// task queue, would act with Hourglass's authority instead of its tenant's.
// Names compare case-insensitively, whatever the spelling (name, URL or
// ARN; any region, account or partition), so a refusal errs on the safe
// side: a tenant's own queue that happens to share a name with one of
// Hourglass's is refused too.
type Own struct {
	// Buses are the names of Hourglass's event buses.
	Buses []string
	// Queues are Hourglass's queues (task, scan, ingest and their DLQs),
	// as names, URLs or ARNs: only the name (the last segment) counts.
	Queues []string
	// FunctionPrefix starts every Hourglass function's name
	// (DefaultFunctionPrefix when empty).
	FunctionPrefix string
}

// Refuses reports why a is one of Hourglass's own resources, or "" when
// it is not.
func (o Own) Refuses(a Address) string {
	name := strings.ToLower(a.Name)
	switch a.Service {
	case "events":
		for _, b := range o.Buses {
			if b != "" && name == strings.ToLower(lastSegment(b, "/")) {
				return fmt.Sprintf("must not be Hourglass's own event bus %q: tasks cannot create tasks or publish lifecycle events", b)
			}
		}
	case "sqs":
		for _, q := range o.Queues {
			qn := lastSegment(lastSegment(strings.TrimRight(q, "/"), "/"), ":")
			if qn != "" && name == strings.ToLower(qn) {
				return fmt.Sprintf("must not be one of Hourglass's own queues (%s)", qn)
			}
		}
	case "lambda":
		p := o.FunctionPrefix
		if p == "" {
			p = DefaultFunctionPrefix
		}
		if strings.HasPrefix(name, strings.ToLower(p)) {
			return fmt.Sprintf("must not be a Hourglass function (names starting with %q are reserved)", p)
		}
	}
	return ""
}

func lastSegment(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// Policy decides which AWS resources targets may address: never
// Hourglass's own, and for each tenant only those its allow-list names.
type Policy struct {
	Own Own
	// Allow lists the ARNs each tenant may target; nil allows every ARN
	// (development mode). An empty list allows none.
	Allow *AllowList
}

// Check returns the refusal of a for tenant, or nil when a may be
// targeted. An empty tenant skips the allow-list (Validate, which has no
// tenant, checks Hourglass's own resources only).
func (p *Policy) Check(tenant string, a Address) *FieldError {
	if p == nil {
		return nil
	}
	if why := p.Own.Refuses(a); why != "" {
		return &FieldError{Field: a.Field, Reason: why}
	}
	if tenant == "" || p.Allow == nil {
		return nil
	}
	if arn := a.ARN(); !p.Allow.Allows(tenant, arn) {
		return &FieldError{Field: a.Field, Reason: fmt.Sprintf("%s is not in this tenant's target allow-list (HOURGLASS_TARGET_ALLOW)", arn)}
	}
	return nil
}

// Guard wraps e so that its Validate also refuses Hourglass's own
// resources and its Execute refuses, before any call, what p refuses for
// the invocation's tenant — a task stored before the policy changed, or
// written past the API, fails permanently instead of reaching the
// resource. Executors that are not Addressers are returned as they are.
func Guard(e Executor, p *Policy) Executor {
	ad, ok := e.(Addresser)
	if !ok || p == nil {
		return e
	}
	return &guarded{Executor: e, ad: ad, p: p}
}

type guarded struct {
	Executor
	ad Addresser
	p  *Policy
}

var _ Addresser = (*guarded)(nil)

func (g *guarded) Address(spec json.RawMessage) (Address, bool) { return g.ad.Address(spec) }

// Validate adds the own-resource check to the kind's own, whenever the
// spec names a resource at all: every problem is reported.
func (g *guarded) Validate(spec json.RawMessage) []FieldError {
	errs := g.Executor.Validate(spec)
	if a, ok := g.ad.Address(spec); ok {
		if why := g.p.Own.Refuses(a); why != "" {
			errs = append(errs, FieldError{Field: a.Field, Reason: why})
		}
	}
	return errs
}

// Execute refuses before calling: the resource, and the role the spec
// names (RoleField), each checked against the invocation's tenant.
func (g *guarded) Execute(ctx context.Context, inv Invocation) (Result, error) {
	if a, ok := g.ad.Address(inv.Spec); ok {
		if fe := g.p.Check(inv.Tenant, a); fe != nil {
			return Result{}, Permanent(fmt.Errorf("refused %s target: %s %s", g.Kind(), fe.Field, fe.Reason))
		}
	}
	if fe := g.p.CheckRole(inv.Tenant, RoleOf(inv.Spec)); fe != nil {
		return Result{}, Permanent(fmt.Errorf("refused %s target: %s %s", g.Kind(), fe.Field, fe.Reason))
	}
	return g.Executor.Execute(ctx, inv)
}

// Unwrap returns the guarded executor (for optional interfaces such as
// CloseIdleConnections).
func (g *guarded) Unwrap() Executor { return g.Executor }

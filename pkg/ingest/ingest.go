// Package ingest turns CreateTask and CreateSchedule events from the
// Hourglass event bus into tasks and schedules. The bus's ingest rule sends
// both detail-types to the ingest queue; the ingest function (Lambda SQS
// event source, or the local host's poller) runs Handler.HandleSQS on each
// batch.
//
// A CreateTask event's detail is the body of POST /v1/tasks plus "tenant";
// a CreateSchedule event's is the body of POST /v1/schedules plus "tenant"
// and an optional "idempotency_key". Each event is checked on arrival: its
// source must be allowed to act for the tenant (Sources, from
// HOURGLASS_INGEST_SOURCES), and the rest is validated and stored by the
// same services as the API's create (app.Tasks.Create,
// app.Schedules.CreateWithToken). The event's ID is the idempotency token — or
// the detail's idempotency_key when it carries one — so a duplicate
// delivery of the same event creates one task or schedule.
//
// An event that fails is never silently dropped. One that can never succeed
// (malformed, unauthorized, invalid) is sent to the ingest dead-letter queue
// as is, with the reason in message attributes (hourglass-reject-reason,
// and the event's id, source, detail-type and tenant), and a log line says
// why; the original message is then deleted. One that failed for a passing
// reason (rate limit, storage unavailable) — or whose dead-letter send
// failed — is reported as a batch item failure, so SQS delivers it again
// (and, after the queue's maxReceiveCount, moves it to the same DLQ).
package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	awsevents "github.com/aws/aws-lambda-go/events"
	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/events"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// Creator creates a task through the task service, as the API does
// (app.Tasks implements it).
type Creator interface {
	Create(ctx context.Context, log zerolog.Logger, tenant string, req app.CreateTask) (app.Created, error)
}

// ScheduleCreator creates a schedule through the schedule service, as the
// API does (app.Schedules implements it).
type ScheduleCreator interface {
	CreateWithToken(ctx context.Context, log zerolog.Logger, tenant string, body []byte, token string) (*schedule.Schedule, bool, error)
}

// Queue sends one message (the dead-letter send).
type Queue interface {
	Send(ctx context.Context, url string, m task.OutMessage) error
}

// Message attributes of a rejected event on the dead-letter queue.
const (
	AttrReason     = "hourglass-reject-reason"
	AttrEventID    = "hourglass-event-id"
	AttrSource     = "hourglass-event-source"
	AttrDetailType = "hourglass-event-detail-type"
	AttrTenant     = "hourglass-tenant"
)

// maxReason bounds the reason attribute (field errors can be many).
const maxReason = 2048

// Config configures a Handler.
type Config struct {
	DLQ     string  // URL of the ingest dead-letter queue
	Sources Sources // who may act for whom
	// Schedules creates the schedules CreateSchedule events ask for; nil:
	// CreateSchedule events are rejected as not supported.
	Schedules ScheduleCreator
}

// Handler turns ingest-queue messages into tasks.
type Handler struct {
	cfg    Config
	create Creator
	q      Queue
	log    zerolog.Logger
}

// New returns a Handler.
func New(cfg Config, create Creator, q Queue, log zerolog.Logger) *Handler {
	return &Handler{cfg: cfg, create: create, q: q, log: log.With().Str("component", "ingest").Logger()}
}

// Rejection is an event that can never become a task, with the reason.
type Rejection struct {
	Reason string
	// Err is the service's refusal, when the create refused the event
	// (*app.Invalid, *app.TooLarge or app.ErrIdempotencyMismatch).
	Err error
}

func (r *Rejection) Error() string { return "rejected: " + r.Reason }

// retryable is a failure worth another delivery.
type retryable struct{ err error }

func (r *retryable) Error() string { return r.err.Error() }
func (r *retryable) Unwrap() error { return r.err }

// HandleSQS is the Lambda entry point (partial batch responses): each record
// is created, dead-lettered with its reason, or reported for redelivery.
func (h *Handler) HandleSQS(ctx context.Context, ev awsevents.SQSEvent) (awsevents.SQSEventResponse, error) {
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		resp awsevents.SQSEventResponse
	)
	for _, rec := range ev.Records {
		wg.Add(1)
		go func(rec awsevents.SQSMessage) {
			defer wg.Done()
			if err := h.handle(ctx, rec); err != nil {
				mu.Lock()
				resp.BatchItemFailures = append(resp.BatchItemFailures, awsevents.SQSBatchItemFailure{ItemIdentifier: rec.MessageId})
				mu.Unlock()
			}
		}(rec)
	}
	wg.Wait()
	return resp, nil
}

// envelope is what process reads of an event before validating its detail.
type envelope struct {
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Detail     json.RawMessage `json:"detail"`
}

// handle processes one record: nil means done (created, replayed or
// dead-lettered); an error means deliver it again.
func (h *Handler) handle(ctx context.Context, rec awsevents.SQSMessage) error {
	log := h.log.With().Str("message_id", rec.MessageId).Logger()
	var ev envelope
	var id string
	var created bool
	tenant, err := h.process(ctx, []byte(rec.Body), &ev, &id, &created)
	log = log.With().Str("event_id", ev.ID).Str("source", ev.Source).Str("detail_type", ev.DetailType).Str("tenant", tenant).Logger()
	var rej *Rejection
	switch {
	case err == nil && ev.DetailType == events.DetailCreateSchedule:
		if !created {
			log.Info().Str("schedule_id", id).Msg("event replayed: its schedule exists already")
		} else {
			log.Info().Str("schedule_id", id).Msg("schedule created from event")
		}
		return nil
	case err == nil && !created:
		log.Info().Str("task_id", id).Msg("event replayed: its task exists already")
		return nil
	case err == nil:
		log.Info().Str("task_id", id).Msg("task created from event")
		return nil
	case errors.As(err, &rej):
		attrs := map[string]string{AttrReason: truncate(rej.Reason, maxReason)}
		for k, v := range map[string]string{AttrEventID: ev.ID, AttrSource: ev.Source, AttrDetailType: ev.DetailType, AttrTenant: tenant} {
			if v != "" {
				attrs[k] = truncate(v, 256)
			}
		}
		if h.cfg.DLQ == "" {
			log.Error().Str("reason", rej.Reason).Msg("event rejected, but no ingest DLQ is configured (HOURGLASS_INGEST_DLQ_URL); leaving it on the queue")
			return err
		}
		if serr := h.q.Send(ctx, h.cfg.DLQ, task.OutMessage{Body: rec.Body, Attributes: attrs}); serr != nil {
			log.Error().Err(serr).Str("reason", rej.Reason).Msg("event rejected; dead-letter send failed, so it stays on the queue")
			return serr
		}
		log.Warn().Str("reason", rej.Reason).Msg("event rejected and sent to the ingest DLQ")
		return nil
	default:
		log.Warn().Err(err).Msg("event not processed; it will be delivered again")
		return err
	}
}

// process creates the task an event asks for. It returns the tenant the
// event named (for logs), a *Rejection when the event can never succeed, or
// another error when it may succeed later. It fills ev with the event's
// envelope, id with the task's ID and created with whether this call
// created it (false: a replay of the same token).
func (h *Handler) process(ctx context.Context, body []byte, ev *envelope, id *string, created *bool) (string, error) {
	if err := json.Unmarshal(body, ev); err != nil || ev.ID == "" || ev.DetailType == "" {
		return "", &Rejection{Reason: "not an EventBridge event (want a JSON object with id, source, detail-type and detail)"}
	}
	what, route := "task", "/v1/tasks"
	switch {
	case ev.DetailType == events.DetailCreateTask:
	case ev.DetailType == events.DetailCreateSchedule && h.cfg.Schedules != nil:
		what, route = "schedule", "/v1/schedules"
	default:
		supported := events.DetailCreateTask
		if h.cfg.Schedules != nil {
			supported += ", " + events.DetailCreateSchedule
		}
		return "", &Rejection{Reason: fmt.Sprintf("detail-type %q is not supported (supported: %s)", ev.DetailType, supported)}
	}
	// The detail is read into a map below, which would keep only the last
	// of two "tenant" or "target" keys: refuse a detail that does not mean
	// one thing (task.CheckJSON) before that, as the HTTP doors do.
	if fe := task.CheckJSON(ev.Detail, "detail."); fe != nil {
		return "", &Rejection{Reason: fe.Field + ": " + fe.Reason}
	}
	var detail map[string]json.RawMessage
	if err := json.Unmarshal(ev.Detail, &detail); err != nil || detail == nil {
		return "", &Rejection{Reason: fmt.Sprintf("detail: must be a JSON object (the body of POST %s plus tenant)", route)}
	}
	var tenant string
	if raw, ok := detail["tenant"]; !ok || json.Unmarshal(raw, &tenant) != nil || tenant == "" {
		return "", &Rejection{Reason: fmt.Sprintf("detail.tenant: is required (a string naming the tenant the %s is for)", what)}
	}
	if !h.cfg.Sources.Allows(ev.Source, tenant) {
		return tenant, &Rejection{Reason: fmt.Sprintf("source %q may not create %ss for tenant %q (HOURGLASS_INGEST_SOURCES)", ev.Source, what, tenant)}
	}
	delete(detail, "tenant")
	token := ev.ID
	if raw, ok := detail["idempotency_key"]; ok {
		var k string
		if json.Unmarshal(raw, &k) == nil && k != "" {
			token = k
		}
		if what == "schedule" {
			// A task keeps its key; a schedule has none, so the key is
			// only the token.
			if k == "" {
				return tenant, &Rejection{Reason: "detail.idempotency_key: must be a non-empty string"}
			}
			delete(detail, "idempotency_key")
		}
	}
	create, err := json.Marshal(detail)
	if err != nil {
		return tenant, &Rejection{Reason: "detail: could not be re-encoded: " + err.Error()}
	}
	if what == "schedule" {
		s, isNew, err := h.cfg.Schedules.CreateWithToken(ctx, h.log, tenant, create, token)
		if err != nil {
			return tenant, classify(err)
		}
		*id, *created = s.ID, isNew
		return tenant, nil
	}
	c, err := h.create.Create(ctx, h.log, tenant, app.CreateTask{Body: create, Token: token})
	if err != nil {
		return tenant, classify(err)
	}
	*id, *created = c.Task.ID.String(), c.New
	return tenant, nil
}

// classify sorts a service's refusal of a create: a request it can
// never accept is a *Rejection (dead-lettered with its reason); anything
// else — the rate limit, a store or queue failure — is worth another
// delivery.
func classify(err error) error {
	var (
		inv *app.Invalid
		tl  *app.TooLarge
	)
	switch {
	case errors.As(err, &inv):
		return &Rejection{Reason: fieldReason(inv.Fields), Err: err}
	case errors.As(err, &tl):
		return &Rejection{Reason: "413 Request body too large: " + tl.Detail, Err: err}
	case errors.Is(err, app.ErrIdempotencyMismatch):
		return &Rejection{Reason: "422 Request cannot be applied: Idempotency-Key was already used with a different request body", Err: err}
	}
	return &retryable{err: fmt.Errorf("create: %w", err)}
}

// fieldReason renders field errors as "detail." field paths and reasons.
func fieldReason(errs []task.FieldError) string {
	s := ""
	for i, fe := range errs {
		if i > 0 {
			s += "; "
		}
		s += "detail." + fe.Field + ": " + fe.Reason
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

package schedulerapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/sigv4"
)

// The AWS error codes this door answers with.
const (
	codeValidation    = "ValidationException"           // 400
	codeNotFound      = "ResourceNotFoundException"     // 404
	codeConflict      = "ConflictException"             // 409
	codeQuota         = "ServiceQuotaExceededException" // 402
	codeThrottling    = "ThrottlingException"           // 429
	codeInternal      = "InternalServerException"       // 500
	codeUnknownOp     = "UnknownOperationException"     // 404
	contentTypeHeader = "application/json"
)

// apiError is an error answer.
type apiError struct {
	status  int
	code    string
	message string
	retry   int // Retry-After seconds, 0: none
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", contentTypeHeader)
	w.Header().Set("X-Amzn-ErrorType", e.code)
	if e.retry > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retry))
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"Message": e.message})
}

func validation(format string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeValidation, message: format}
}

// fieldNames maps the service's field names (a /v1 create document's, and
// the named-schedule fields) to the Scheduler API's, so a
// ValidationException names the field the caller sent.
var fieldNames = map[string]string{
	"expression": "ScheduleExpression", "timezone": "ScheduleExpressionTimezone",
	"start_at": "StartDate", "end_at": "EndDate", "state": "State",
	"flexible_window_minutes": "FlexibleTimeWindow.MaximumWindowInMinutes",
	"payload":                 "Target.Input", "retry": "Target.RetryPolicy", "retry.max_attempts": "Target.RetryPolicy.MaximumRetryAttempts",
	"target": "Target", "kind": "Target.Arn", "queue_url": "Target.Arn", "function": "Target.Arn", "bus": "Target.Arn",
	"message_group_id": "Target.SqsParameters.MessageGroupId", "source": "Target.EventBridgeParameters.Source",
	"detail_type":      "Target.EventBridgeParameters.DetailType",
	"target.queue_url": "Target.Arn", "target.function": "Target.Arn", "target.bus": "Target.Arn", "target.kind": "Target.Arn",
	"target.message_group_id": "Target.SqsParameters.MessageGroupId", "target.source": "Target.EventBridgeParameters.Source",
	"target.detail_type": "Target.EventBridgeParameters.DetailType",
	"name":               "Name", "group": "GroupName", "description": "Description", "client_token": "ClientToken",
	"action_after_completion": "ActionAfterCompletion", "maximum_event_age": "Target.RetryPolicy.MaximumEventAgeInSeconds",
	"tags": "Tags", "next_token": "NextToken", "body": "body",
}

func awsField(f string) string {
	if n, ok := fieldNames[f]; ok {
		return n
	}
	if rest, ok := strings.CutPrefix(f, "target."); ok {
		if n, ok := fieldNames[rest]; ok {
			return n
		}
	}
	return f
}

// errorOf maps a service (or verifier) error to AWS's answer.
func errorOf(log zerolog.Logger, err error) *apiError {
	var (
		inv  *app.Invalid
		nf   *app.NotFound
		cf   *app.Conflict
		tl   *app.TooLarge
		le   *app.LimitExceeded
		qe   *app.QuotaExceeded
		un   *app.Unavailable
		sig  *sigv4.Error
		apie *apiError
	)
	switch {
	case errors.As(err, &apie):
		return apie
	case errors.As(err, &sig):
		return &apiError{status: sig.Status(), code: sig.Code, message: sig.Message}
	case errors.As(err, &inv):
		parts := make([]string, 0, len(inv.Fields))
		for _, fe := range inv.Fields {
			parts = append(parts, awsField(fe.Field)+": "+fe.Reason)
		}
		return validation(strings.Join(parts, "; "))
	case errors.As(err, &nf):
		return &apiError{status: http.StatusNotFound, code: codeNotFound, message: nf.What + " does not exist."}
	case errors.As(err, &cf):
		return &apiError{status: http.StatusConflict, code: codeConflict, message: cf.Detail}
	case errors.As(err, &tl):
		return validation(tl.Detail)
	case errors.As(err, &qe):
		return &apiError{status: http.StatusPaymentRequired, code: codeQuota, message: qe.Detail}
	case errors.As(err, &le):
		return &apiError{status: http.StatusTooManyRequests, code: codeThrottling, message: le.Detail, retry: max(1, int(le.RetryAfter.Seconds()+0.999))}
	case errors.As(err, &un):
		return &apiError{status: http.StatusTooManyRequests, code: codeThrottling, message: un.Detail, retry: max(1, int(un.RetryAfter.Seconds()+0.999))}
	}
	log.Error().Err(err).Msg("scheduler API: internal error")
	return &apiError{status: http.StatusInternalServerError, code: codeInternal, message: "Unexpected error during processing of request."}
}

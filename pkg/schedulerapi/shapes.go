package schedulerapi

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// The request and response shapes, as the SDK's serializers and
// deserializers spell them (timestamps are epoch seconds, as numbers).

type flexibleTimeWindow struct {
	Mode                   string `json:"Mode"`
	MaximumWindowInMinutes *int   `json:"MaximumWindowInMinutes,omitempty"`
}

type retryPolicy struct {
	MaximumEventAgeInSeconds *int `json:"MaximumEventAgeInSeconds,omitempty"`
	MaximumRetryAttempts     *int `json:"MaximumRetryAttempts,omitempty"`
}

type arnRef struct {
	Arn string `json:"Arn"`
}

type sqsParameters struct {
	MessageGroupID string `json:"MessageGroupId,omitempty"`
}

type eventBridgeParameters struct {
	DetailType string `json:"DetailType"`
	Source     string `json:"Source"`
}

type targetShape struct {
	Arn                   string                 `json:"Arn"`
	RoleArn               string                 `json:"RoleArn"`
	Input                 *string                `json:"Input,omitempty"`
	RetryPolicy           *retryPolicy           `json:"RetryPolicy,omitempty"`
	DeadLetterConfig      *arnRef                `json:"DeadLetterConfig,omitempty"`
	SqsParameters         *sqsParameters         `json:"SqsParameters,omitempty"`
	EventBridgeParameters *eventBridgeParameters `json:"EventBridgeParameters,omitempty"`
	// Accepted by AWS, refused here (no such target kind in Hourglass).
	EcsParameters               json.RawMessage `json:"EcsParameters,omitempty"`
	KinesisParameters           json.RawMessage `json:"KinesisParameters,omitempty"`
	SageMakerPipelineParameters json.RawMessage `json:"SageMakerPipelineParameters,omitempty"`
}

// scheduleInput is CreateSchedule's and UpdateSchedule's body.
type scheduleInput struct {
	ActionAfterCompletion      string              `json:"ActionAfterCompletion"`
	ClientToken                string              `json:"ClientToken"`
	Description                string              `json:"Description"`
	EndDate                    *float64            `json:"EndDate"`
	FlexibleTimeWindow         *flexibleTimeWindow `json:"FlexibleTimeWindow"`
	GroupName                  string              `json:"GroupName"`
	KmsKeyArn                  string              `json:"KmsKeyArn"`
	ScheduleExpression         string              `json:"ScheduleExpression"`
	ScheduleExpressionTimezone string              `json:"ScheduleExpressionTimezone"`
	StartDate                  *float64            `json:"StartDate"`
	State                      string              `json:"State"`
	Target                     *targetShape        `json:"Target"`
}

// supported names the target ARNs Hourglass runs.
const supported = "supported target ARNs: an SQS queue (arn:aws:sqs:<region>:<account>:<queue>), " +
	"a Lambda function (arn:aws:lambda:<region>:<account>:function:<name>) or an EventBridge event bus " +
	"(arn:aws:events:<region>:<account>:event-bus/<name>)"

func epoch(f float64) time.Time {
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func epochOf(t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	f := float64(t.UnixMilli()) / 1000
	return &f
}

// targetSpec maps a target ARN and its parameters to a Hourglass target
// object, or says why it cannot.
func targetSpec(t *targetShape) (map[string]any, []task.FieldError) {
	var errs []task.FieldError
	add := func(f, r string) { errs = append(errs, task.FieldError{Field: f, Reason: r}) }
	parts := strings.SplitN(t.Arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") {
		add("Target.Arn", "must be an ARN; "+supported)
		return nil, errs
	}
	service, region, account, resource := parts[2], parts[3], parts[4], parts[5]
	for _, p := range []struct {
		name string
		v    json.RawMessage
	}{{"EcsParameters", t.EcsParameters}, {"KinesisParameters", t.KinesisParameters}, {"SageMakerPipelineParameters", t.SageMakerPipelineParameters}} {
		if len(p.v) > 0 && string(p.v) != "null" {
			add("Target."+p.name, "is not supported: Hourglass has no such target; "+supported)
		}
	}
	if t.SqsParameters != nil && service != "sqs" {
		add("Target.SqsParameters", "applies to SQS queue targets only")
	}
	if t.EventBridgeParameters != nil && service != "events" {
		add("Target.EventBridgeParameters", "applies to EventBridge event bus targets only")
	}
	var spec map[string]any
	switch {
	case service == "sqs" && region != "" && account != "" && resource != "" && !strings.Contains(resource, ":"):
		spec = map[string]any{"kind": "sqs", "queue_url": "https://sqs." + region + ".amazonaws.com/" + account + "/" + resource}
		if t.SqsParameters != nil && t.SqsParameters.MessageGroupID != "" {
			spec["message_group_id"] = t.SqsParameters.MessageGroupID
		}
	case service == "lambda" && strings.HasPrefix(resource, "function:"):
		spec = map[string]any{"kind": "lambda", "function": t.Arn, "invocation_type": "Event"}
	case service == "events" && strings.HasPrefix(resource, "event-bus/"):
		if t.EventBridgeParameters == nil || t.EventBridgeParameters.DetailType == "" || t.EventBridgeParameters.Source == "" {
			add("Target.EventBridgeParameters", "DetailType and Source are required for an event bus target")
			return nil, errs
		}
		spec = map[string]any{"kind": "eventbridge", "bus": t.Arn, "source": t.EventBridgeParameters.Source, "detail_type": t.EventBridgeParameters.DetailType}
	case service == "scheduler" && strings.HasPrefix(resource, "aws-sdk:"):
		add("Target.Arn", "universal (aws-sdk) targets are not supported; "+supported)
	default:
		add("Target.Arn", fmt.Sprintf("%s targets are not supported; %s", service, supported))
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if t.RoleArn != "" {
		// The target's role: recorded, and assumed only for a target in
		// another account (target.RoleField), where it must be in the
		// tenant's allow-list like any target.
		spec["role_arn"] = t.RoleArn
	}
	return spec, nil
}

// named decodes a CreateSchedule or UpdateSchedule body for the schedule
// name into the service's named schedule.
func named(name string, in *scheduleInput) (app.NamedSchedule, *apiError) {
	var errs []task.FieldError
	add := func(f, r string) { errs = append(errs, task.FieldError{Field: f, Reason: r}) }
	if in.ScheduleExpression == "" {
		add("ScheduleExpression", "is required")
	}
	if in.Target == nil || in.Target.Arn == "" {
		add("Target.Arn", "is required")
	}
	if in.Target != nil && (len(in.Target.RoleArn) < 1 || len(in.Target.RoleArn) > 1600) {
		add("Target.RoleArn", "is required (1 to 1600 characters); Hourglass records it")
	}
	def := map[string]any{"expression": in.ScheduleExpression}
	switch {
	case in.FlexibleTimeWindow == nil:
		add("FlexibleTimeWindow", "is required")
	case in.FlexibleTimeWindow.Mode == "OFF":
		if in.FlexibleTimeWindow.MaximumWindowInMinutes != nil {
			add("FlexibleTimeWindow.MaximumWindowInMinutes", "must not be set when Mode is OFF")
		}
	case in.FlexibleTimeWindow.Mode == "FLEXIBLE":
		m := in.FlexibleTimeWindow.MaximumWindowInMinutes
		if m == nil || *m < 1 || *m > 1440 {
			add("FlexibleTimeWindow.MaximumWindowInMinutes", "must be from 1 to 1440 when Mode is FLEXIBLE")
		} else {
			def["flexible_window_minutes"] = *m
		}
	default:
		add("FlexibleTimeWindow.Mode", "must be OFF or FLEXIBLE")
	}
	if in.ScheduleExpressionTimezone != "" {
		def["timezone"] = in.ScheduleExpressionTimezone
	}
	if in.StartDate != nil {
		def["start_at"] = epoch(*in.StartDate).Format(time.RFC3339Nano)
	}
	if in.EndDate != nil {
		def["end_at"] = epoch(*in.EndDate).Format(time.RFC3339Nano)
	}
	if in.State != "" {
		def["state"] = in.State
	}
	if len(in.KmsKeyArn) > 2048 {
		add("KmsKeyArn", "must be at most 2048 characters")
	}
	ns := app.NamedSchedule{
		Group: in.GroupName, Name: name, Description: in.Description, ClientToken: in.ClientToken,
		AfterCompletion: schedule.AfterCompletion(in.ActionAfterCompletion),
	}
	var roleArn string
	if t := in.Target; t != nil && t.Arn != "" {
		roleArn = t.RoleArn
		spec, terrs := targetSpec(t)
		errs = append(errs, terrs...)
		if spec != nil {
			def["target"] = spec
		}
		if t.Input != nil {
			if json.Valid([]byte(*t.Input)) {
				def["payload"] = json.RawMessage(*t.Input)
			} else {
				def["payload"] = *t.Input
			}
		}
		if rp := t.RetryPolicy; rp != nil {
			if rp.MaximumRetryAttempts != nil {
				if *rp.MaximumRetryAttempts < 0 || *rp.MaximumRetryAttempts > 185 {
					add("Target.RetryPolicy.MaximumRetryAttempts", "must be from 0 to 185")
				} else {
					def["retry"] = map[string]any{"max_attempts": *rp.MaximumRetryAttempts + 1}
				}
			}
			if rp.MaximumEventAgeInSeconds != nil {
				ns.MaxEventAge = time.Duration(*rp.MaximumEventAgeInSeconds) * time.Second
				if *rp.MaximumEventAgeInSeconds < 60 {
					// The service's bound names the field; make 0 visible too.
					ns.MaxEventAge = max(ns.MaxEventAge, time.Second)
				}
			}
		}
		if t.DeadLetterConfig != nil {
			if !strings.HasPrefix(t.DeadLetterConfig.Arn, "arn:aws") || !strings.Contains(t.DeadLetterConfig.Arn, ":sqs:") {
				add("Target.DeadLetterConfig.Arn", "must be an SQS queue ARN")
			}
			ns.DeadLetterArn = t.DeadLetterConfig.Arn
		}
	}
	if len(errs) > 0 {
		return ns, errorOf(zerolog.Nop(), &app.Invalid{Fields: errs})
	}
	ns.RoleArn = roleArn
	b, err := json.Marshal(def)
	if err != nil {
		return ns, validation("the schedule cannot be encoded: " + err.Error())
	}
	ns.Definition = b
	return ns, nil
}

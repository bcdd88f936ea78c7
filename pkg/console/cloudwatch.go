package console

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// The CloudWatch client is pinned at v1.51.1 in go.mod: later releases
// speak CloudWatch's Smithy RPC v2 CBOR protocol, which moto 5.2.1 (the
// test emulator) does not serve (it answers 404), while AWS serves every
// protocol the SDK has used. Raise the pin once the emulator speaks CBOR.

// CloudWatchAPI is what CloudWatchStats needs of the CloudWatch client.
type CloudWatchAPI interface {
	GetMetricData(ctx context.Context, in *cloudwatch.GetMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.GetMetricDataOutput, error)
}

// CloudWatchStats reads the overview's figures from the CloudWatch
// metrics a deployed stack publishes (namespace Hourglass, as EMF lines:
// TasksCreated from the api function, TasksSucceeded, TasksRetried,
// TasksFailed and LatenessMs from the workers), and the task DLQ's depth
// from SQS's own metrics, with the caller's AWS credentials. Its Stats
// method is an Options.Stats for a console in front of a deployed API
// (hourglass console --sigv4 uses it).
type CloudWatchStats struct {
	CW CloudWatchAPI
	// Namespace is the metrics' namespace (default "Hourglass").
	Namespace string
	// DLQName, when set, is the task DLQ's queue name, whose
	// ApproximateNumberOfMessagesVisible gives the DLQ depth.
	DLQName string
	// Step is the series' step (default 60 s, CloudWatch's standard
	// resolution) and Window how far back it goes (default 1 h).
	Step, Window time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Stats returns the series and totals over the window.
func (c *CloudWatchStats) Stats(ctx context.Context) (*Stats, error) {
	ns, step, window, now := c.Namespace, c.Step, c.Window, time.Now
	if ns == "" {
		ns = "Hourglass"
	}
	if step <= 0 {
		step = time.Minute
	}
	if window <= 0 {
		window = time.Hour
	}
	if c.Now != nil {
		now = c.Now
	}
	end := now().UTC().Truncate(step).Add(step)
	start := end.Add(-window)
	q := func(id, name, stat string) types.MetricDataQuery {
		return types.MetricDataQuery{Id: aws.String(id), ReturnData: aws.Bool(true), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String(ns), MetricName: aws.String(name)},
			Period: aws.Int32(int32(step / time.Second)), Stat: aws.String(stat)}}
	}
	queries := []types.MetricDataQuery{
		q("created", "TasksCreated", "Sum"), q("succeeded", "TasksSucceeded", "Sum"),
		q("retried", "TasksRetried", "Sum"), q("failed", "TasksFailed", "Sum"),
		q("p50", "LatenessMs", "p50"), q("p99", "LatenessMs", "p99"),
	}
	if c.DLQName != "" {
		queries = append(queries, types.MetricDataQuery{Id: aws.String("dlq"), ReturnData: aws.Bool(true), MetricStat: &types.MetricStat{
			Metric: &types.Metric{Namespace: aws.String("AWS/SQS"), MetricName: aws.String("ApproximateNumberOfMessagesVisible"),
				Dimensions: []types.Dimension{{Name: aws.String("QueueName"), Value: aws.String(c.DLQName)}}},
			Period: aws.Int32(int32(step / time.Second)), Stat: aws.String("Maximum")}})
	}
	byID := map[string]map[time.Time]float64{}
	in := &cloudwatch.GetMetricDataInput{MetricDataQueries: queries, StartTime: aws.Time(start), EndTime: aws.Time(end), ScanBy: types.ScanByTimestampAscending}
	for p := cloudwatch.NewGetMetricDataPaginator(c.CW, in); p.HasMorePages(); {
		out, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read CloudWatch metrics: %w", err)
		}
		for _, r := range out.MetricDataResults {
			id := aws.ToString(r.Id)
			if byID[id] == nil {
				byID[id] = map[time.Time]float64{}
			}
			for i, ts := range r.Timestamps {
				if i < len(r.Values) {
					byID[id][ts.UTC().Truncate(step)] = r.Values[i]
				}
			}
		}
	}
	return statsFrom(byID, start, end, step, now().UTC()), nil
}

// statsFrom builds the overview's Stats from per-step values by query ID.
func statsFrom(byID map[string]map[time.Time]float64, start, end time.Time, step time.Duration, now time.Time) *Stats {
	s := &Stats{GeneratedAt: now, StepSeconds: int(step / time.Second), Since: start}
	secs := step.Seconds()
	latest := time.Time{}
	for t := start; t.Before(end); t = t.Add(step) {
		created, succ, retr, fail := byID["created"][t], byID["succeeded"][t], byID["retried"][t], byID["failed"][t]
		s.Totals.Created += int64(created)
		s.Totals.Succeeded += int64(succ)
		s.Totals.Retried += int64(retr)
		s.Totals.Failed += int64(fail)
		point := struct {
			T             time.Time `json:"t"`
			CreatedPerS   float64   `json:"created_per_s"`
			ExecutedPerS  float64   `json:"executed_per_s"`
			LatenessP50Ms *float64  `json:"lateness_p50_ms"`
			LatenessP99Ms *float64  `json:"lateness_p99_ms"`
		}{T: t, CreatedPerS: created / secs, ExecutedPerS: (succ + retr + fail) / secs}
		if v, ok := byID["p50"][t]; ok {
			point.LatenessP50Ms = &v
		}
		if v, ok := byID["p99"][t]; ok {
			point.LatenessP99Ms = &v
		}
		s.Series = append(s.Series, point)
		if v, ok := byID["dlq"][t]; ok && !t.Before(latest) {
			latest = t
			d := int(v)
			s.DLQDepth = &d
		}
	}
	s.Totals.Executed = s.Totals.Succeeded + s.Totals.Retried + s.Totals.Failed
	return s
}

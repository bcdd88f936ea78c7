package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// LatenessAlarmThresholdMs is the p99 lateness (due → executed) above which
// the lateness alarm fires: the design promises p99 ≤ 1 s.
const LatenessAlarmThresholdMs = 1000

// latenessMetric is the lateness the runtime reports in Embedded Metric
// Format, without dimensions, in MetricsNamespace.
func latenessMetric(statistic string) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String(MetricsNamespace),
		MetricName: jsii.String("LatenessMs"),
		Statistic:  jsii.String(statistic),
		Period:     awscdk.Duration_Minutes(jsii.Number(5)),
		Unit:       awscloudwatch.Unit_MILLISECONDS,
	})
}

// alarmAbove makes an alarm on metric > threshold over one period; missing
// data (nothing happened) is fine.
func (b *builder) alarmAbove(id string, metric awscloudwatch.IMetric, threshold float64, description string) {
	awscloudwatch.NewAlarm(b.stack, jsii.String(id), &awscloudwatch.AlarmProps{
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		EvaluationPeriods:  jsii.Number(1),
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(description),
	})
}

// addMonitoring adds the alarms and the dashboard. The alarms have no
// actions: wire them to your paging topic (see README).
func (b *builder) addMonitoring() {
	minute := awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes := awscdk.Duration_Minutes(jsii.Number(5))
	queues := []struct {
		name string
		pair queuePair
	}{{"Scan", b.scan}, {"Task", b.task}, {"Ingest", b.ingest}}

	for _, q := range queues {
		b.alarmAbove(q.name+"DlqAlarm",
			q.pair.dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum")}),
			0, "Hourglass "+q.name+" DLQ holds messages: inspect and redrive")
	}
	for _, name := range functionNames {
		fn, ok := b.functions[name]
		if !ok {
			continue
		}
		b.alarmAbove(exportName(name)+"ThrottlesAlarm",
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}),
			0, "Hourglass "+name+" function is throttled")
	}
	if worker, ok := b.functions["worker"]; ok {
		b.alarmAbove("WorkerErrorsAlarm",
			worker.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}),
			0, "Hourglass worker function fails invocations")
	}
	b.alarmAbove("LatenessAlarm", latenessMetric("p99"), LatenessAlarmThresholdMs,
		"Hourglass p99 task lateness above 1 s over 5 minutes")

	var depth, dlqDepth, age []awscloudwatch.IMetric
	for _, q := range queues {
		opts := &awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Maximum"), Label: jsii.String(q.name)}
		depth = append(depth, q.pair.queue.MetricApproximateNumberOfMessagesVisible(opts))
		dlqDepth = append(dlqDepth, q.pair.dlq.MetricApproximateNumberOfMessagesVisible(opts))
		age = append(age, q.pair.queue.MetricApproximateAgeOfOldestMessage(opts))
	}
	var errs, throttles, durations []awscloudwatch.IMetric
	for _, name := range functionNames {
		fn, ok := b.functions[name]
		if !ok {
			continue
		}
		sum := &awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("Sum"), Label: jsii.String(name)}
		errs = append(errs, fn.MetricErrors(sum))
		throttles = append(throttles, fn.MetricThrottles(sum))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Period: minute, Statistic: jsii.String("p99"), Label: jsii.String(name)}))
	}
	graph := func(title string, metrics []awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &metrics, Width: jsii.Number(12),
		})
	}
	awscloudwatch.NewDashboard(b.stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("Task lateness (ms)", []awscloudwatch.IMetric{latenessMetric("p50"), latenessMetric("p99"), latenessMetric("Maximum")}),
				graph("Queue depth (visible)", depth),
			},
			{graph("DLQ depth", dlqDepth), graph("Oldest message age (s)", age)},
			{graph("Function errors", errs), graph("Function throttles", throttles)},
			{graph("Function duration p99 (ms)", durations)},
		},
	})
}

// addOutputs exports what a client or an operator needs to reach the stack.
func (b *builder) addOutputs() {
	out := func(id string, value *string, desc string) {
		awscdk.NewCfnOutput(b.stack, jsii.String(id), &awscdk.CfnOutputProps{Value: value, Description: jsii.String(desc)})
	}
	out("ApiUrl", b.apiURL, "Hourglass HTTP API base URL")
	out("SchedulerEndpoint", b.apiURL, "EventBridge Scheduler-compatible endpoint: set AWS_ENDPOINT_URL_SCHEDULER (or the SDK's BaseEndpoint) to it and sign with a Hourglass access key")
	out("BusName", b.bus.EventBusName(), "Hourglass event bus (ingest and lifecycle events)")
	out("TableName", b.table.TableName(), "Hourglass DynamoDB table")
	out("SigningSecretArn", b.signingSecret.SecretArn(), "Secret holding the master key (it authenticates list page tokens)")
	out("SchemaRegistryName", b.schemaRegName, "EventBridge Schemas registry of Hourglass events")
	for _, q := range []struct {
		name string
		pair queuePair
	}{{"Scan", b.scan}, {"Task", b.task}, {"Ingest", b.ingest}} {
		out(q.name+"QueueUrl", q.pair.queue.QueueUrl(), q.name+" queue URL")
		out(q.name+"QueueName", q.pair.queue.QueueName(), q.name+" queue name")
		out(q.name+"DlqUrl", q.pair.dlq.QueueUrl(), q.name+" dead-letter queue URL")
		out(q.name+"DlqName", q.pair.dlq.QueueName(), q.name+" dead-letter queue name")
	}
	// The principals a cross-account target's role must trust (with the
	// condition sts:ExternalId = "hourglass:<tenant>").
	if fn, ok := b.functions["worker"]; ok {
		out("WorkerRoleArn", fn.Role().RoleArn(), "The Lambda worker's role: cross-account target roles trust it")
	}
	if b.workerTask != nil {
		out("WorkerTaskRoleArn", b.workerTask.TaskRole().RoleArn(), "The ECS worker's task role: cross-account target roles trust it")
	}
}

package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// ApplyNag runs cdk-nag's AwsSolutions pack over scope at synth: findings of
// error level become error annotations, which fail `cdk synth`.
func ApplyNag(scope awscdk.Stack) {
	awscdk.Aspects_Of(scope).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
}

// suppression is one accepted cdk-nag finding; appliesTo narrows an
// IAM5-style finding to the exact wildcard it accepts.
func suppression(id, reason string, appliesTo ...string) *cdknag.NagPackSuppression {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		list := make([]any, len(appliesTo))
		for i, a := range appliesTo {
			list[i] = a
		}
		s.AppliesTo = &list
	}
	return s
}

// Reasons for every accepted finding, shared with the tests and README.
const (
	reasonXRay    = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions; AWS requires Resource '*'."
	reasonGSI     = "The by_tenant and by_failed GSIs are queried by the list API; the table grant covers the table's own indexes (table ARN/index/*), nothing else."
	reasonKMS     = "Customer-managed table key: DynamoDB needs kms:GenerateDataKey*/ReEncrypt* variants on that one key ARN; the wildcard is in the action suffix, not the resource."
	reasonHealthz = "GET /healthz is deliberately unauthenticated so load balancers and uptime checks can probe it; it returns no data."
	reasonSecret  = "The master key authenticates list page tokens; rotating it only invalidates outstanding page tokens, which operators do by hand. Webhook signing secrets are per tenant, KMS-encrypted in the table, and rotated through the API."
	reasonECSEnv  = "Container environment holds only non-secret configuration (resource names, URLs, tuning numbers); the signing key is read from Secrets Manager at run time by ARN."
	reasonECR     = "ecr:GetAuthorizationToken supports no resource-level permissions; the task execution role needs it to pull the worker image."
	reasonMetrics = "cloudwatch:PutMetricData supports no resource-level permissions; the statement is limited by the cloudwatch:namespace=Hourglass condition."
)

// reasonScheduler is why the Scheduler-compatible routes have no API
// Gateway authorizer.
const reasonScheduler = "The EventBridge Scheduler-compatible routes are SigV4-signed for service 'scheduler' with Hourglass-issued access keys, which API Gateway's IAM authorizer (execute-api, IAM principals) cannot verify; the api function verifies every signature itself (constant-time, 5-minute clock window) and refuses unsigned requests."

// addNagSuppressions records, with a reason each, the AwsSolutions findings
// this stack accepts. Each is scoped to the construct that raises it.
func (b *builder) addNagSuppressions() {
	tableID := b.stack.Resolve(b.stack.GetLogicalId(b.table.Node().DefaultChild().(awsdynamodb.CfnTable)))
	gsiResource := fmt.Sprintf("Resource::<%s.Arn>/index/*", tableID)
	tableGrants := []*cdknag.NagPackSuppression{suppression("AwsSolutions-IAM5", reasonGSI, gsiResource)}
	if b.props.TableEncryption == awsdynamodb.TableEncryption_CUSTOMER_MANAGED {
		tableGrants = append(tableGrants, suppression("AwsSolutions-IAM5", reasonKMS, "Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"))
	}
	for _, name := range functionNames {
		fn, ok := b.functions[name]
		if !ok {
			continue
		}
		s := append([]*cdknag.NagPackSuppression{suppression("AwsSolutions-IAM5", reasonXRay, "Resource::*")}, tableGrants...)
		cdknag.NagSuppressions_AddResourceSuppressions(fn.Role(), &s, jsii.Bool(true))
	}
	for _, route := range *b.healthzRoutes {
		cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{suppression("AwsSolutions-APIG4", reasonHealthz)}, jsii.Bool(true))
	}
	for _, route := range b.schedulerRoutes {
		cdknag.NagSuppressions_AddResourceSuppressions(route, &[]*cdknag.NagPackSuppression{suppression("AwsSolutions-APIG4", reasonScheduler)}, jsii.Bool(true))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(b.signingSecret, &[]*cdknag.NagPackSuppression{suppression("AwsSolutions-SMG4", reasonSecret)}, jsii.Bool(true))
	if b.workerTask != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(b.workerTask, &[]*cdknag.NagPackSuppression{suppression("AwsSolutions-ECS2", reasonECSEnv)}, jsii.Bool(false))
		cdknag.NagSuppressions_AddResourceSuppressions(b.workerTask.ExecutionRole(), &[]*cdknag.NagPackSuppression{suppression("AwsSolutions-IAM5", reasonECR, "Resource::*")}, jsii.Bool(true))
		s := append([]*cdknag.NagPackSuppression{suppression("AwsSolutions-IAM5", reasonMetrics, "Resource::*")}, tableGrants...)
		cdknag.NagSuppressions_AddResourceSuppressions(b.workerTask.TaskRole(), &s, jsii.Bool(true))
	}
}

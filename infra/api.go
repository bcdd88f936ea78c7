package main

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// accessLogFormat is one JSON object per request; requestId is required by
// API Gateway, the rest is what an operator needs to trace a call.
var accessLogFormat = func() string {
	f, err := json.Marshal(map[string]string{
		"requestId":          "$context.requestId",
		"ip":                 "$context.identity.sourceIp",
		"caller":             "$context.identity.caller",
		"user":               "$context.identity.user",
		"requestTime":        "$context.requestTime",
		"httpMethod":         "$context.httpMethod",
		"routeKey":           "$context.routeKey",
		"path":               "$context.path",
		"status":             "$context.status",
		"protocol":           "$context.protocol",
		"responseLength":     "$context.responseLength",
		"integrationLatency": "$context.integrationLatency",
		"integrationError":   "$context.integrationErrorMessage",
		"authorizerError":    "$context.authorizer.error",
	})
	if err != nil {
		panic(err)
	}
	return string(f)
}()

// addAPI makes the HTTP API: every /v1 route needs IAM (SigV4) or JWT
// authorization; only GET /healthz is open.
func (b *builder) addAPI() {
	integration := awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String("ApiIntegration"), b.functions["api"],
		&awsapigatewayv2integrations.HttpLambdaIntegrationProps{
			PayloadFormatVersion: awsapigatewayv2.PayloadFormatVersion_VERSION_2_0(),
		})
	httpAPI := awsapigatewayv2.NewHttpApi(b.stack, jsii.String("HttpApi"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("Hourglass task and schedule API"),
		// The default stage is made below, with access logging.
		CreateDefaultStage: jsii.Bool(false),
	})
	accessLogs := awslogs.NewLogGroup(b.stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: b.retention(),
	})
	stage := awsapigatewayv2.NewHttpStage(b.stack, jsii.String("HttpApiStage"), &awsapigatewayv2.HttpStageProps{
		HttpApi:    httpAPI,
		StageName:  jsii.String("$default"),
		AutoDeploy: jsii.Bool(true),
	})
	// The L2 takes access-log settings only through a jsii interface; the L1
	// property says the same thing plainly.
	stage.Node().DefaultChild().(awsapigatewayv2.CfnStage).SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	b.apiURL = stage.Url()

	var authorizer awsapigatewayv2.IHttpRouteAuthorizer = awsapigatewayv2authorizers.NewHttpIamAuthorizer()
	if b.props.JwtIssuer != "" {
		authorizer = awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("JwtAuthorizer"), jsii.String(b.props.JwtIssuer),
			&awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
				JwtAudience: jsii.Strings(b.props.JwtAudience...),
			})
	}
	httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/v1/{proxy+}"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
		Integration: integration,
		Authorizer:  authorizer,
	})
	b.healthzRoutes = httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
		Path:        jsii.String("/healthz"),
		Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_GET},
		Integration: integration,
		Authorizer:  awsapigatewayv2.NewHttpNoneAuthorizer(),
	})
	// The EventBridge Scheduler-compatible API, at AWS's own paths so that
	// an unmodified SDK whose endpoint is this API works. Its requests are
	// SigV4-signed for the service "scheduler" with access keys Hourglass
	// issues, which API Gateway's IAM authorizer (execute-api signatures,
	// IAM principals) cannot verify: the api function verifies them.
	for _, path := range SchedulerPaths {
		b.schedulerRoutes = append(b.schedulerRoutes, *httpAPI.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod_ANY},
			Integration: integration,
			Authorizer:  awsapigatewayv2.NewHttpNoneAuthorizer(),
		})...)
	}
}

// SchedulerPaths are the routes of the EventBridge Scheduler-compatible
// API (version 2021-06-30): schedules, schedule groups and tags.
var SchedulerPaths = []string{"/schedules", "/schedules/{proxy+}", "/schedule-groups", "/schedule-groups/{proxy+}", "/tags/{proxy+}"}

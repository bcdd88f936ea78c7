package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/stretchr/testify/require"
)

func TestDefaults(t *testing.T) {
	t.Parallel()
	// GIVEN no settings at all
	// WHEN defaults are applied
	p, err := (*HourglassStackProps)(nil).withDefaults()

	// THEN every setting has the documented default
	require.NoError(t, err)
	require.Equal(t, 16, p.Shards)
	require.Equal(t, 60, p.BucketSeconds)
	require.Equal(t, 180, p.LookaheadSeconds)
	require.Equal(t, WorkerModeLambda, p.WorkerMode)
	require.Equal(t, 30, p.LogRetentionDays)
	require.Equal(t, awsdynamodb.BillingMode_PAY_PER_REQUEST, p.BillingMode)
	require.Equal(t, awsdynamodb.TableEncryption_AWS_MANAGED, p.TableEncryption)
	require.True(t, *p.DeletionProtection)
	require.Equal(t, "hourglass", p.BusName)
	require.Equal(t, "sub", p.TenantClaim)
	require.Equal(t, "info", p.LogLevel)
	require.False(t, p.ListIndex, "the list index is opt-in")
	require.Equal(t, "failures", p.LifecycleEvents)
	require.Equal(t, "none", p.Claim)
	require.Equal(t, "../build/lambda", p.LambdaAssetDir)
	require.Equal(t, "../events/schemas", p.SchemaDir)
}

func TestValidateRejectsBadSettings(t *testing.T) {
	t.Parallel()
	cases := map[string]HourglassStackProps{
		"worker mode":          {WorkerMode: "k8s"},
		"lookahead too short":  {LookaheadSeconds: 30},
		"lookahead over 900 s": {LookaheadSeconds: 901},
		"negative shards":      {Shards: -1},
		"billing mode":         {BillingMode: "FREE"},
		"max under floor":      {WriteCapacity: 500, MaxWriteCapacity: 100},
		"target over 90":       {TargetUtilization: 95},
		"target under 20":      {TargetUtilization: 10},
		"encryption":           {TableEncryption: awsdynamodb.TableEncryption_DEFAULT},
		"issuer without aud":   {JwtIssuer: "https://issuer.example.com/"},
		"audience without iss": {JwtAudience: []string{"x"}},
		"http issuer":          {JwtIssuer: "http://issuer.example.com/", JwtAudience: []string{"x"}},
		"log level":            {LogLevel: "verbose"},
		"lifecycle events":     {LifecycleEvents: "succeeded"},
		"claim":                {Claim: "optimistic"},
		"receive count":        {TaskMaxReceiveCount: 2},
		"concurrency":          {WorkerConcurrency: 1},
		"wildcard target":      {TargetQueueArns: []string{"arn:aws:sqs:eu-west-1:111111111111:*"}},
		"wildcard role":        {TargetRoleArns: []string{"arn:aws:iam::222222222222:role/*"}},
		"tasks bounds":         {WorkerMinTasks: 5, WorkerMaxTasks: 2},
		// Issue 14: lifecycle events and AWS events are never ingest.
		"lifecycle source ingests": {IngestSources: "hourglass=*"},
		"aws source ingests":       {IngestSources: "com.example=acme,aws.events=acme"},
		"target allow syntax":      {TargetAllow: "acme"},
		"target allow pattern":     {TargetAllow: "acme=sqs:orders"},
		"tenant map syntax":        {TenantMap: "role/orders=orders"},
	}
	for name, props := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// GIVEN one invalid setting
			// WHEN defaults are applied and validated
			_, err := props.withDefaults()
			// THEN it is rejected
			require.Error(t, err)
		})
	}
}

func TestPropsFromContext(t *testing.T) {
	// GIVEN context values as the CDK CLI passes them (strings) and as
	// cdk.json holds them (numbers, booleans, arrays)
	app := testApp(t, map[string]any{
		CtxStackName:          "HourglassDev",
		CtxShards:             "32",
		CtxBucketSeconds:      30,
		CtxWorkerMode:         "BOTH",
		CtxDeletionProtection: "false",
		CtxBillingMode:        "provisioned",
		CtxJwtIssuer:          "https://issuer.example.com/",
		CtxJwtAudience:        "a, b",
		CtxTargetBusArns:      []any{"arn:aws:events:eu-west-1:111111111111:event-bus/x"},
		CtxTargetRoleArns:     "arn:aws:iam::222222222222:role/a,arn:aws:iam::222222222222:role/b",
		CtxLogLevel:           "DEBUG",
		CtxListIndex:          "true",
		CtxLifecycleEvents:    "all",
		CtxClaim:              "LEASE",
	})

	// WHEN the settings are read
	p, name, err := PropsFromContext(app.Node())

	// THEN each is converted, and unset ones stay zero for the defaults
	require.NoError(t, err)
	require.Equal(t, "HourglassDev", name)
	require.Equal(t, 32, p.Shards)
	require.Equal(t, 30, p.BucketSeconds)
	require.Equal(t, WorkerModeBoth, p.WorkerMode)
	require.NotNil(t, p.DeletionProtection)
	require.False(t, *p.DeletionProtection)
	require.Equal(t, awsdynamodb.BillingMode_PROVISIONED, p.BillingMode)
	require.Equal(t, []string{"a", "b"}, p.JwtAudience)
	require.Equal(t, []string{"arn:aws:events:eu-west-1:111111111111:event-bus/x"}, p.TargetBusArns)
	require.Equal(t, []string{"arn:aws:iam::222222222222:role/a", "arn:aws:iam::222222222222:role/b"}, p.TargetRoleArns)
	require.Equal(t, "DEBUG", p.LogLevel)
	require.True(t, p.ListIndex)
	require.Equal(t, "all", p.LifecycleEvents)
	require.Equal(t, "LEASE", p.Claim)
	withDefaults, err := p.withDefaults()
	require.NoError(t, err)
	require.Equal(t, "lease", withDefaults.Claim)
	require.Zero(t, p.LookaheadSeconds)
}

func TestPropsFromContextRejectsBadValues(t *testing.T) {
	for key, value := range map[string]any{
		CtxShards:             "many",
		CtxDeletionProtection: "maybe",
		CtxListIndex:          "maybe",
		CtxWorkerMode:         "k8s",
	} {
		// GIVEN one context value that cannot be used
		app := testApp(t, map[string]any{key: value})
		// WHEN the settings are read
		_, _, err := PropsFromContext(app.Node())
		// THEN the error names the problem
		require.Error(t, err, key)
	}
}

func TestNewHourglassStackPanicsOnInvalidProps(t *testing.T) {
	// GIVEN invalid props
	app := testApp(t, nil)
	// WHEN the stack is built
	// THEN it refuses, naming the setting
	require.PanicsWithValue(t,
		`hourglass: invalid stack props: workerMode must be lambda, ecs or both, got "k8s"`,
		func() { NewHourglassStack(app, "Bad", &HourglassStackProps{WorkerMode: "k8s"}) })
	require.Panics(t, func() {
		NewHourglassStack(app, "BadRetention", &HourglassStackProps{LogRetentionDays: 31})
	})
}

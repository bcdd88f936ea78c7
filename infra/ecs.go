package main

import (
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapplicationautoscaling"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecrassets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsecs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"
)

// workerDockerfile is the worker image's Dockerfile, relative to RepoRoot
// (the Docker build context).
const workerDockerfile = "infra/docker/worker.Dockerfile"

// workerImage is WorkerImage if set, else an image asset built from the repo
// root at deploy time. Only the worker binary and the Dockerfile enter the
// build context, so staging the asset at synth copies two files and needs no
// Docker.
func (b *builder) workerImage() awsecs.ContainerImage {
	if b.props.WorkerImage != nil {
		return b.props.WorkerImage
	}
	return awsecs.ContainerImage_FromAsset(jsii.String(b.props.RepoRoot), &awsecs.AssetImageProps{
		File:       jsii.String(workerDockerfile),
		Platform:   awsecrassets.Platform_LINUX_ARM64(),
		IgnoreMode: awscdk.IgnoreMode_DOCKER,
		Exclude:    jsii.Strings("*", "!build/lambda/worker/bootstrap", "!"+filepath.ToSlash(workerDockerfile)),
	})
}

// addECSWorker runs the worker binary as a long-poller on Fargate (arm64),
// scaled on the task queue's visible depth. Delayed messages are invisible,
// so the metric counts only tasks that are due now.
func (b *builder) addECSWorker() {
	p := b.props
	flowLogs := awslogs.NewLogGroup(b.stack, jsii.String("WorkerVpcFlowLogs"), &awslogs.LogGroupProps{Retention: b.retention()})
	vpc := awsec2.NewVpc(b.stack, jsii.String("WorkerVpc"), &awsec2.VpcProps{
		MaxAzs: jsii.Number(2),
		// Public subnets with no inbound rules: the workers need egress to
		// AWS APIs and webhooks, and a NAT gateway per AZ would cost more
		// than the whole scheduler.
		NatGateways: jsii.Number(0),
		SubnetConfiguration: &[]*awsec2.SubnetConfiguration{{
			Name: jsii.String("public"), SubnetType: awsec2.SubnetType_PUBLIC, CidrMask: jsii.Number(24),
		}},
		GatewayEndpoints: &map[string]*awsec2.GatewayVpcEndpointOptions{
			"DynamoDB": {Service: awsec2.GatewayVpcEndpointAwsService_DYNAMODB()},
		},
		FlowLogs: &map[string]*awsec2.FlowLogOptions{
			"All": {
				Destination: awsec2.FlowLogDestination_ToCloudWatchLogs(flowLogs, nil),
				TrafficType: awsec2.FlowLogTrafficType_ALL,
			},
		},
		// Nothing uses the default security group; leaving it alone avoids
		// a custom-resource Lambda in the stack.
		RestrictDefaultSecurityGroup: jsii.Bool(false),
	})
	cluster := awsecs.NewCluster(b.stack, jsii.String("WorkerCluster"), &awsecs.ClusterProps{
		Vpc:                 vpc,
		ContainerInsightsV2: awsecs.ContainerInsights_ENABLED,
	})
	taskDef := awsecs.NewFargateTaskDefinition(b.stack, jsii.String("WorkerTask"), &awsecs.FargateTaskDefinitionProps{
		Cpu:            jsii.Number(256),
		MemoryLimitMiB: jsii.Number(512),
		RuntimePlatform: &awsecs.RuntimePlatform{
			CpuArchitecture:       awsecs.CpuArchitecture_ARM64(),
			OperatingSystemFamily: awsecs.OperatingSystemFamily_LINUX(),
		},
	})
	b.workerTask = taskDef
	b.grantWorker(taskDef.TaskRole())
	b.task.queue.GrantConsumeMessages(taskDef.TaskRole())
	// Outside Lambda, Embedded Metric Format lines are not turned into
	// metrics, so the poller puts its metrics itself — in our namespace only.
	taskDef.TaskRole().AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:    jsii.Strings("cloudwatch:PutMetricData"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"StringEquals": map[string]any{"cloudwatch:namespace": MetricsNamespace}},
	}))

	logs := awslogs.NewLogGroup(b.stack, jsii.String("WorkerServiceLogs"), &awslogs.LogGroupProps{Retention: b.retention()})
	env := *b.env(functionEnv["worker"]...)
	env[EnvWorkerMode] = jsii.String("poll")
	taskDef.AddContainer(jsii.String("worker"), &awsecs.ContainerDefinitionOptions{
		Image:                  b.workerImage(),
		Logging:                awsecs.LogDrivers_AwsLogs(&awsecs.AwsLogDriverProps{StreamPrefix: jsii.String("worker"), LogGroup: logs}),
		Environment:            &env,
		ReadonlyRootFilesystem: jsii.Bool(true),
		// Long enough to finish the current batch after SIGTERM.
		StopTimeout: awscdk.Duration_Seconds(jsii.Number(90)),
	})

	sg := awsec2.NewSecurityGroup(b.stack, jsii.String("WorkerSecurityGroup"), &awsec2.SecurityGroupProps{
		Vpc:              vpc,
		Description:      jsii.String("Hourglass ECS workers: egress only"),
		AllowAllOutbound: jsii.Bool(true),
	})
	service := awsecs.NewFargateService(b.stack, jsii.String("WorkerService"), &awsecs.FargateServiceProps{
		Cluster:           cluster,
		TaskDefinition:    taskDef,
		DesiredCount:      jsii.Number(p.WorkerMinTasks),
		AssignPublicIp:    jsii.Bool(true),
		VpcSubnets:        &awsec2.SubnetSelection{SubnetType: awsec2.SubnetType_PUBLIC},
		SecurityGroups:    &[]awsec2.ISecurityGroup{sg},
		MinHealthyPercent: jsii.Number(100),
		CircuitBreaker:    &awsecs.DeploymentCircuitBreaker{Rollback: jsii.Bool(true)},
	})
	scaling := service.AutoScaleTaskCount(&awsapplicationautoscaling.EnableScalingProps{
		MinCapacity: jsii.Number(p.WorkerMinTasks),
		MaxCapacity: jsii.Number(p.WorkerMaxTasks),
	})
	scaling.ScaleOnMetric(jsii.String("QueueDepth"), &awsapplicationautoscaling.BasicStepScalingPolicyProps{
		Metric: b.task.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(1)),
			Statistic: jsii.String("Maximum"),
		}),
		AdjustmentType: awsapplicationautoscaling.AdjustmentType_CHANGE_IN_CAPACITY,
		ScalingSteps: &[]*awsapplicationautoscaling.ScalingInterval{
			{Upper: jsii.Number(0), Change: jsii.Number(-1)},
			{Lower: jsii.Number(100), Change: jsii.Number(1)},
			{Lower: jsii.Number(1000), Change: jsii.Number(3)},
		},
		Cooldown: awscdk.Duration_Minutes(jsii.Number(1)),
	})
	awscdk.NewCfnOutput(b.stack, jsii.String("WorkerClusterName"), &awscdk.CfnOutputProps{Value: cluster.ClusterName()})
	awscdk.NewCfnOutput(b.stack, jsii.String("WorkerServiceName"), &awscdk.CfnOutputProps{Value: service.ServiceName()})
}

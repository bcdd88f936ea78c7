// Command api is the API Lambda function behind API Gateway's HTTP API.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/wire"
)

func main() {
	cfg, comps := wire.MustBuild("api")
	var auth api.Authenticator = api.GatewayAuth{Claim: cfg.TenantClaim, Map: cfg.TenantMap}
	if cfg.Dev {
		auth = api.DevAuth{}
	}
	lambda.Start(httpadapter.NewV2(comps.HTTP(auth, nil)).ProxyWithContext)
}

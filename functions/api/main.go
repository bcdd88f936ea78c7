// Command api is the API Lambda function behind API Gateway's HTTP API.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/schedules"
	"github.com/hourglass-sched/hourglass/pkg/service"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "api: configuration:", err)
		os.Exit(2)
	}
	comps, err := service.Build(context.Background(), cfg, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
	var auth api.Authenticator = api.GatewayAuth{Claim: os.Getenv("HOURGLASS_TENANT_CLAIM")}
	if cfg.Dev {
		auth = api.DevAuth{}
	}
	mux := http.NewServeMux() // the task API, with the schedule API beside it
	mux.Handle("/", comps.API(auth, nil))
	schedules.Mount(mux, comps.Schedules(auth))
	lambda.Start(httpadapter.NewV2(mux).ProxyWithContext)
}

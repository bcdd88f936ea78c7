// Command dispatcher is the dispatcher Lambda function, fed by the scan queue.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/service"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher: configuration:", err)
		os.Exit(2)
	}
	comps, err := service.Build(context.Background(), cfg, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dispatcher:", err)
		os.Exit(1)
	}
	lambda.Start(comps.Dispatcher().HandleSQS)
}

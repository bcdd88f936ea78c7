// Command ingest is the ingest Lambda function: CreateTask events that the
// Hourglass bus's rule sends to the ingest queue become tasks (SQS event
// source with partial batch responses; see package ingest).
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
		fmt.Fprintln(os.Stderr, "ingest: configuration:", err)
		os.Exit(2)
	}
	comps, err := service.Build(context.Background(), cfg, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
	h, err := comps.Ingest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest: configuration:", err)
		os.Exit(2)
	}
	lambda.Start(h.HandleSQS)
}

// Command ingest is the ingest Lambda function: CreateTask events that the
// Hourglass bus's rule sends to the ingest queue become tasks (SQS event
// source with partial batch responses; see package ingest).
package main

import (
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/wire"
)

func main() {
	_, comps := wire.MustBuild("ingest")
	h, err := comps.Ingest()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest: configuration:", err)
		os.Exit(2)
	}
	lambda.Start(h.HandleSQS)
}

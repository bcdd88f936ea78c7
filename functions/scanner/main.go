// Command scanner is the scanner Lambda function, invoked by an EventBridge
// rate(1 minute) rule.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/wire"
)

func main() {
	_, comps := wire.MustBuild("scanner")
	scanner := comps.Scanner()
	lambda.Start(func(ctx context.Context, _ events.CloudWatchEvent) error {
		_, err := scanner.Tick(ctx)
		return err
	})
}

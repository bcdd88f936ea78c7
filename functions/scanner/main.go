// Command scanner is the scanner Lambda function, invoked by an EventBridge
// rate(1 minute) rule.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/service"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanner: configuration:", err)
		os.Exit(2)
	}
	comps, err := service.Build(context.Background(), cfg, nil, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scanner:", err)
		os.Exit(1)
	}
	scanner := comps.Scanner()
	lambda.Start(func(ctx context.Context, _ events.CloudWatchEvent) error {
		_, err := scanner.Tick(ctx)
		return err
	})
}

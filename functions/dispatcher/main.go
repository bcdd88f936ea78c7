// Command dispatcher is the dispatcher Lambda function, fed by the scan queue.
package main

import (
	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/wire"
)

func main() {
	_, comps := wire.MustBuild("dispatcher")
	lambda.Start(comps.Dispatcher().HandleSQS)
}

// Command redrive re-runs the tasks in the task dead-letter queue once the
// cause of their failure is fixed (see package redrive):
//
//	go run ./scripts/redrive -dlq "$HOURGLASS_TASK_DLQ_URL" -queue "$HOURGLASS_TASK_QUEUE_URL" -table hourglass-tasks [-attempts 3] [-tenant acme] [-dry-run]
//
// Each FAILED task gets -attempts more attempts and goes back on the task
// queue; unfinished tasks are re-sent; finished ones are dropped from the
// DLQ. It is safe to interrupt and run again. Flags default to the same
// HOURGLASS_* variables every function reads, so against `make dev` no flag
// is needed beyond the queue URLs. It prints one JSON summary on stdout.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/redrive"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
)

func main() {
	cfg, err := config.Load()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redrive: configuration:", err)
		os.Exit(2)
	}
	var rc redrive.Config
	flag.StringVar(&rc.DLQ, "dlq", cfg.TaskDLQURL, "task dead-letter queue URL (HOURGLASS_TASK_DLQ_URL)")
	flag.StringVar(&rc.TaskQueue, "queue", cfg.TaskQueueURL, "task queue URL (HOURGLASS_TASK_QUEUE_URL)")
	flag.StringVar(&cfg.Table, "table", cfg.Table, "task table (HOURGLASS_TABLE)")
	flag.IntVar(&rc.Attempts, "attempts", 3, "fresh attempts for each FAILED task")
	flag.IntVar(&rc.Max, "max", 1000, "most DLQ messages to handle")
	flag.StringVar(&rc.Tenant, "tenant", "", "only this tenant's tasks (others stay in the DLQ)")
	flag.BoolVar(&rc.DryRun, "dry-run", false, "report what would be redriven; change nothing")
	flag.Parse()
	if rc.DLQ == "" || rc.TaskQueue == "" {
		fmt.Fprintln(os.Stderr, "redrive: -dlq and -queue (or HOURGLASS_TASK_DLQ_URL and HOURGLASS_TASK_QUEUE_URL) are required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	awsCfg, err := config.AWS(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "redrive:", err)
		os.Exit(1)
	}
	store := ddbstore.New(dynamodb.NewFromConfig(awsCfg), cfg.Table, cfg.Layout(), ddbstore.Options{})
	res, err := redrive.Run(ctx, rc, store, sqsq.New(sqs.NewFromConfig(awsCfg)), clock.System{}, cfg.Logger())
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if err != nil {
		fmt.Fprintln(os.Stderr, "redrive:", err)
		os.Exit(1)
	}
}

// Command worker executes tasks. It runs as the worker Lambda function (SQS
// event source with partial batch responses), or, with
// HOURGLASS_WORKER_MODE=poll, as a long-polling process for ECS Fargate that
// drains in-flight work on SIGTERM.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/hourglass-sched/hourglass/pkg/poll"
	"github.com/hourglass-sched/hourglass/pkg/wire"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

func main() {
	cfg, comps := wire.MustBuild("worker")
	if !cfg.WorkerPoll {
		lambda.Start(comps.Worker().HandleSQS)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Two receive loops: a receive returns as soon as one message is
	// visible, so more loops mean emptier (costlier) receives; batches are
	// gathered over the window and handled apart from the loops, 64 at once.
	// Short per-receive visibility plus heartbeat (package poll): a lost
	// task's messages are back within seconds. Delayed redeliveries go
	// through the poller, which stops their heartbeat first.
	p := &poll.Poller{Name: "worker", Queue: comps.Queue, URL: cfg.TaskQueueURL, Concurrency: 2, Visibility: cfg.PollVisibility,
		MaxBatch: worker.BatchMax, Window: worker.BatchWindow, LeadPerMessage: worker.ReadLeadPerTask, ReceivedAttr: worker.ReceivedAtAttribute, MaxInFlight: 64, Log: comps.Log}
	// The worker's batch reads tell the poller how early to hand over.
	w := comps.Worker(func(c *worker.Config) { c.Visibility = p })
	p.Handler, p.Deadline = w.HandleSQS, w.HandOverBy
	comps.Log.Info().Msg("worker polling (SIGTERM drains and stops)")
	p.Run(ctx)
	// Lifecycle events a failed batch flush left buffered: last chance.
	if err := comps.Events.Flush(context.Background()); err != nil {
		comps.Log.Warn().Err(err).Msg("lifecycle events lost at shutdown")
	}
}

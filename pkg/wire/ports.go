package wire

import (
	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/chain"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/redrive"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/signing"
	"github.com/hourglass-sched/hourglass/pkg/sqsq"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// The adapters serve the ports of the packages above them. The assertions
// live here, in the wiring, and not beside the adapters: an adapter
// imports only the domain, so that the DynamoDB store and the SQS queue
// never depend on the doors or engines that use them.
var (
	// The store serves every port that needs tasks or schedules.
	_ api.Store       = (*ddbstore.Store)(nil)
	_ scan.Store      = (*ddbstore.Store)(nil)
	_ dispatch.Store  = (*ddbstore.Store)(nil)
	_ worker.Store    = (*ddbstore.Store)(nil)
	_ redrive.Store   = (*ddbstore.Store)(nil)
	_ chain.Store     = (*ddbstore.Store)(nil)
	_ signing.Store   = (*ddbstore.Store)(nil)
	_ app.GroupStore  = (*ddbstore.Store)(nil)
	_ app.CreateQuota = (*ddbstore.Store)(nil)

	// The queue serves every port that sends messages.
	_ api.Queue         = (*sqsq.Queue)(nil)
	_ scan.Sender       = (*sqsq.Queue)(nil)
	_ dispatch.Sender   = (*sqsq.Queue)(nil)
	_ dispatch.Unsent   = (*sqsq.BatchError)(nil)
	_ worker.Queue      = (*sqsq.Queue)(nil)
	_ worker.Visibility = (*sqsq.Queue)(nil)
)

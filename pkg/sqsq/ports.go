package sqsq

import (
	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// The queue serves every port that sends messages.
var (
	_ api.Queue         = (*Queue)(nil)
	_ scan.Sender       = (*Queue)(nil)
	_ dispatch.Sender   = (*Queue)(nil)
	_ dispatch.Unsent   = (*BatchError)(nil)
	_ worker.Queue      = (*Queue)(nil)
	_ worker.Visibility = (*Queue)(nil)
)

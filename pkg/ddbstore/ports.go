package ddbstore

import (
	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/dispatch"
	"github.com/hourglass-sched/hourglass/pkg/scan"
	"github.com/hourglass-sched/hourglass/pkg/worker"
)

// The store serves every port that needs tasks.
var (
	_ api.Store      = (*Store)(nil)
	_ scan.Store     = (*Store)(nil)
	_ dispatch.Store = (*Store)(nil)
	_ worker.Store   = (*Store)(nil)
)

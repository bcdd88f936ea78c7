package api

import "github.com/hourglass-sched/hourglass/pkg/app"

// Events publishes lifecycle events (see package lifecycle): the task
// service publishes TaskCancelled after each cancel or reschedule.
type Events = app.Events

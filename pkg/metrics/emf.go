// Package metrics emits CloudWatch metrics as Embedded Metric Format (EMF)
// log lines: in Lambda, a JSON line on stdout with an "_aws" block becomes a
// metric with no API call. The stack's lateness alarm reads LatenessMs from
// the Hourglass namespace.
package metrics

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// Namespace is the CloudWatch namespace of every Hourglass metric.
const Namespace = "Hourglass"

// Units used by Hourglass metrics.
const (
	Milliseconds = "Milliseconds"
	Count        = "Count"
)

// EMF writes one EMF line per value. Safe for concurrent use.
type EMF struct {
	mu  sync.Mutex
	w   io.Writer
	now func() time.Time
}

// New returns an EMF writer to w (os.Stdout in Lambda).
func New(w io.Writer) *EMF { return &EMF{w: w, now: time.Now} }

type metricDef struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type awsBlock struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// Record emits value as metric name (no dimensions, so alarms can read it
// directly).
func (e *EMF) Record(name string, value float64, unit string) {
	line := map[string]any{
		"_aws": awsBlock{
			Timestamp:         e.now().UnixMilli(),
			CloudWatchMetrics: []directive{{Namespace: Namespace, Dimensions: [][]string{{}}, Metrics: []metricDef{{Name: name, Unit: unit}}}},
		},
		name: value,
	}
	b, err := json.Marshal(line)
	if err != nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}

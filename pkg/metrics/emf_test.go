package metrics

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRecordWritesEMF(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	e := New(&buf)
	e.now = func() time.Time { return time.UnixMilli(1795906140000) }
	e.Record("LatenessMs", 42, Milliseconds)
	require.JSONEq(t, `{"_aws":{"Timestamp":1795906140000,"CloudWatchMetrics":[{"Namespace":"Hourglass","Dimensions":[[]],"Metrics":[{"Name":"LatenessMs","Unit":"Milliseconds"}]}]},"LatenessMs":42}`, buf.String())
	e.Record("TasksFailed", 1, Count)
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2, "one line per value")
	var v map[string]any
	require.NoError(t, json.Unmarshal(lines[1], &v))
	require.EqualValues(t, 1, v["TasksFailed"])
}

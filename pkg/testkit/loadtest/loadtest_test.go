package loadtest_test

import (
	"bytes"
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/testkit/loadtest"
)

func TestPercentilesNearestRank(t *testing.T) {
	t.Parallel()
	v := make([]float64, 0, 100)
	for i := 100; i >= 1; i-- {
		v = append(v, float64(i))
	}
	l := loadtest.Percentiles(v)
	assert.Equal(t, loadtest.Latency{P50: 50, P90: 90, P99: 99, Max: 100}, l)
	assert.Equal(t, loadtest.Latency{}, loadtest.Percentiles(nil))
	assert.Equal(t, loadtest.Latency{P50: 7, P90: 7, P99: 7, Max: 7}, loadtest.Percentiles([]float64{7}))
}

// fakeScheduler runs each submitted task itself: task 0 never, task 1
// twice, task 2 before it is due, the rest on time.
func TestRunCountsLostEarlyAndDuplicates(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	post := func(at time.Time, url, id string) {
		defer wg.Done()
		time.Sleep(time.Until(at))
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(`{}`)))
		req.Header.Set(loadtest.TaskIDHeader, id)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}
	submit := func(_ context.Context, i int, due time.Time, hook string) (string, error) {
		id := "t" + string(rune('a'+i))
		switch i {
		case 0: // lost
		case 1:
			wg.Add(2)
			go post(due.Add(20*time.Millisecond), hook, id)
			go post(due.Add(60*time.Millisecond), hook, id)
		case 2:
			wg.Add(1)
			go post(due.Add(-150*time.Millisecond), hook, id)
		default:
			wg.Add(1)
			go post(due.Add(10*time.Millisecond), hook, id)
		}
		return id, nil
	}
	res, err := loadtest.Run(context.Background(), loadtest.Options{Tasks: 6, Spread: 500 * time.Millisecond, Lead: 300 * time.Millisecond,
		Grace: time.Second, Submit: submit})
	require.NoError(t, err)
	wg.Wait()
	s := res.Summary
	assert.Equal(t, 6, s.Created)
	assert.Equal(t, 5, s.Executed)
	assert.Equal(t, 1, s.Lost)
	assert.Equal(t, 1, s.Early)
	assert.Equal(t, 1, s.Duplicates)
	assert.Len(t, res.Samples, 5)
	assert.Nil(t, s.PerTask, "no usage without an Hourglass API")
	assert.Less(t, s.Lateness.P50, 200.0)
}

func TestRunRefusesNonLoopbackTargets(t *testing.T) {
	t.Parallel()
	_, err := loadtest.Run(context.Background(), loadtest.Options{API: "http://192.0.2.1:8080", Tasks: 1})
	require.Error(t, err)
	_, err = loadtest.Run(context.Background(), loadtest.Options{API: "http://127.0.0.1:1", Tasks: 1, SinkAddr: "0.0.0.0:0"})
	require.Error(t, err)
}

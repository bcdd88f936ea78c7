package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/ddbstore"
	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestQuotaPlan: the chunk and shard arithmetic of the shared create
// quota keeps every counter item at or under MaxItemWrites reservation
// writes a second, and the shards' caps add up to the rate.
func TestQuotaPlan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ rate, chunk, shards int }{
		{1, 1, 1}, {20, 1, 1}, {100, 1, 1}, {101, 2, 1}, {500, 5, 1}, {10000, 100, 1},
		{50000, 100, 1}, {50001, 100, 2}, {1000000, 100, 20},
	} {
		p := app.NewQuotaPlan(tc.rate)
		assert.Equal(t, tc.chunk, p.Chunk, "chunk at rate %d", tc.rate)
		assert.Equal(t, tc.shards, p.Shards, "shards at rate %d", tc.rate)
		writes := (tc.rate + p.Chunk - 1) / p.Chunk
		assert.LessOrEqual(t, (writes+p.Shards-1)/p.Shards, app.MaxItemWrites, "writes per item at rate %d", tc.rate)
		sum := 0
		for s := range p.Shards {
			sum += p.ShardCap(s)
		}
		assert.Equal(t, tc.rate, sum, "caps at rate %d", tc.rate)
	}
}

// TestGranted: a reservation spends only what fell within the shard's cap.
func TestGranted(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		total     int64
		want, cap int
		granted   int
	}{
		{5, 5, 20, 5},   // first reservation, well under
		{20, 5, 20, 5},  // exactly reaches the cap
		{22, 5, 20, 3},  // straddles it: 17 before, 3 left
		{25, 5, 20, 0},  // 20 before: nothing left
		{100, 5, 20, 0}, // far past (counters grow past the cap)
		{1, 1, 1, 1},
		{2, 1, 1, 0},
	} {
		assert.Equal(t, tc.granted, app.Granted(tc.total, tc.want, tc.cap), "%+v", tc)
	}
}

// setupQuota provisions a fresh table and returns two task services over
// it (two API instances) with the given create rate and one manual clock.
func setupQuota(t *testing.T, rate float64) (a, b *app.Tasks, store *ddbstore.Store, clk *clock.Manual) {
	t.Helper()
	env := awstest.New(t)
	res, err := provision.Ensure(context.Background(), env.Config, provision.Spec{Prefix: env.Name("cq")})
	require.NoError(t, err)
	layout := task.Layout{Bucket: time.Minute}
	store = ddbstore.New(dynamodb.NewFromConfig(env.Config), res.Table, layout, ddbstore.Options{})
	clk = clock.NewManual(time.Now().UTC().Truncate(time.Second).Add(300 * time.Millisecond))
	cfg := app.TasksConfig{Layout: layout, Shards: 4, Lookahead: 10 * time.Second, Limits: task.DefaultLimits(), CreateRate: rate, Quota: store}
	a = app.NewTasks(cfg, store, nil, clk, zerolog.Nop())
	b = app.NewTasks(cfg, store, nil, clk, zerolog.Nop())
	return a, b, store, clk
}

func createBody(due time.Time) []byte {
	return []byte(fmt.Sprintf(`{"due_at": %q, "target": {"kind": "webhook", "url": "https://example.com/hook"}}`, due.Format(time.RFC3339)))
}

// TestCreateRateAcrossInstances: two API instances over one store grant a
// tenant no more than its rate in one second between them, refuse the
// rest with a Retry-After to the next second, leave another tenant
// alone, count each task of a batch, and grant again in the next second.
func TestCreateRateAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rate = 12
	a, b, _, clk := setupQuota(t, rate)
	due := clk.Now().Add(time.Hour)

	// 20 creates on each instance, concurrently, within one second.
	var mu sync.Mutex
	ok, limited := 0, 0
	var wg sync.WaitGroup
	for _, svc := range []*app.Tasks{a, b} {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: createBody(due)})
				mu.Lock()
				defer mu.Unlock()
				var le *app.LimitExceeded
				switch {
				case err == nil:
					ok++
				case errors.As(err, &le):
					limited++
					assert.Equal(t, 700*time.Millisecond < le.RetryAfter && le.RetryAfter <= time.Second, true, "Retry-After %v", le.RetryAfter)
				default:
					t.Errorf("create: %v", err)
				}
			}()
		}
	}
	wg.Wait()
	assert.Equal(t, rate, ok, "granted in one second over two instances")
	assert.Equal(t, 40-rate, limited)

	// Another tenant has its own quota.
	_, err := b.Create(ctx, zerolog.Nop(), "globex", app.CreateTask{Body: createBody(due)})
	require.NoError(t, err)

	// The next second: a batch of 10 on one instance counts 10, so the
	// other instance has 2 left, and a batch of 3 is refused whole.
	clk.Advance(time.Second)
	tasks := make([]string, 10)
	for i := range tasks {
		tasks[i] = string(createBody(due))
	}
	items, err := a.CreateBatch(ctx, zerolog.Nop(), "acme", app.CreateBatch{Body: []byte(`{"tasks": [` + strings.Join(tasks, ",") + `]}`)})
	require.NoError(t, err)
	for _, it := range items {
		require.NoError(t, it.Err)
	}
	var le *app.LimitExceeded
	_, err = b.CreateBatch(ctx, zerolog.Nop(), "acme", app.CreateBatch{Body: []byte(`{"tasks": [` + strings.Join(tasks[:3], ",") + `]}`)})
	require.ErrorAs(t, err, &le, "3 more than the 2 left this second")
	for range 2 {
		_, err = b.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: createBody(due)})
		require.NoError(t, err)
	}
	_, err = a.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: createBody(due)})
	require.ErrorAs(t, err, &le, "the second's 12 are spent")
}

// TestCreateRateOff: -1 turns the limit off, shared counter or not.
func TestCreateRateOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, _, clk := setupQuota(t, -1)
	due := clk.Now().Add(time.Hour)
	for i := range 6 {
		svc := a
		if i%2 == 1 {
			svc = b
		}
		_, err := svc.Create(ctx, zerolog.Nop(), "acme", app.CreateTask{Body: createBody(due)})
		require.NoError(t, err)
	}
}

package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/devhost/provision"
	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// Issue 14: the worker checks a target again before calling it. Tasks
// stored while the policy allowed them — an allow-list narrowed since, a
// queue that has since become one of Hourglass's own — fail at once
// (FAILED after one attempt, not retried) with the reason, and nothing is
// sent.
func TestWorkerRefusesGuardedTargetsBeforeCalling(t *testing.T) {
	s := setup(t, stacktest.Options{})
	ctx := context.Background()
	q1, err := provision.EnsureQueue(ctx, s.Env.Config, s.Env.Name("acme-orders"))
	require.NoError(t, err)
	q2, err := provision.EnsureQueue(ctx, s.Env.Config, s.Env.Name("globex-orders"))
	require.NoError(t, err)
	due := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339Nano)
	create := func(tenant, queue string) string {
		code, out := s.Do(http.MethodPost, "/v1/tasks", tenant, map[string]any{
			"due_at": due, "target": map[string]any{"kind": "sqs", "queue_url": queue}, "payload": map[string]any{"tenant": "someone-else"},
		})
		require.Equal(t, http.StatusCreated, code, out)
		return out["id"].(string)
	}
	narrowed := create("acme", q1) // dev mode: any ARN
	owned := create("globex", q2)

	allow, err := target.ParseAllow("acme=arn:aws:sqs:*:*:nothing-*,*=*", nil)
	require.NoError(t, err)
	s.Comps.Policy.Allow = allow
	s.Comps.Policy.Own.Queues = append(s.Comps.Policy.Own.Queues, q2)

	runAll(t, s, 30*time.Second, narrowed, owned)
	for id, why := range map[string]string{narrowed: "not in this tenant's target allow-list", owned: "must not be one of Hourglass's own queues"} {
		got := s.Get(id)
		require.Equal(t, task.Failed, got.State, id)
		require.Len(t, got.Attempts, 1, "a refusal is not retried")
		assert.Contains(t, got.LastError, "refused sqs target: queue_url", id)
		assert.Contains(t, got.LastError, why, id)
	}
	sq := sqs.NewFromConfig(s.Env.Config)
	for _, q := range []string{q1, q2} {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &q, WaitTimeSeconds: 1})
		require.NoError(t, err)
		assert.Empty(t, out.Messages, "nothing reached %s", q)
	}
}

package client_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/task"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestDeadLetters: with the list index off, ListFailed finds the caller's
// FAILED task and Retry runs it again (RETRYING, a fresh budget); a second
// Retry is IsConflict. The client authenticates with a plain bearer Token.
func TestDeadLetters(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	s.Sink.SetStatus(func(stacktest.Call) int { return http.StatusBadRequest }) // permanent: fails at once
	srv := httptest.NewServer(s.API)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{Token: "dev-acme", HTTPClient: srv.Client()})
	require.NoError(t, err)
	ctx := context.Background()

	s.Tick()
	tk, _, err := c.Create(ctx, client.CreateTask{DueAt: time.Now().Add(time.Second), Target: client.Webhook(s.Sink.URL + "/hook")}, "")
	require.NoError(t, err)
	s.Until(30*time.Second, "the task to fail", func() bool { return s.Get(tk.ID).State == task.Failed }, func() {
		s.Tick()
		s.Dispatch(nil)
		s.Work(nil)
	})
	var page *client.Page
	s.Until(10*time.Second, "the dead letter listed", func() bool {
		page, err = c.ListFailed(ctx, client.ListOptions{})
		require.NoError(t, err)
		return len(page.Tasks) == 1
	}, nil)
	assert.Equal(t, tk.ID, page.Tasks[0].ID)
	assert.Equal(t, "FAILED", page.Tasks[0].State)

	got, err := c.Retry(ctx, tk.ID, 2)
	require.NoError(t, err)
	assert.Equal(t, "RETRYING", got.State)
	assert.Equal(t, 3, got.Retry.MaxAttempts)
	_, err = c.Retry(ctx, tk.ID, 0)
	assert.True(t, client.IsConflict(err), "%v", err)
	_, err = c.Retry(ctx, "06h3nhoc4s002na8729jgo8c70", 0)
	assert.True(t, client.IsNotFound(err), "%v", err)

	_, err = client.New(srv.URL, client.Options{Token: "dev-acme", DevTenant: "acme"})
	assert.Error(t, err, "one way to authenticate")
}

package client_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestLimits drives the limit routes and a task's limit_key through the
// client against the whole HTTP API.
func TestLimits(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	srv := httptest.NewServer(s.Comps.HTTP(api.DevAuth{}, nil))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{DevTenant: "acme", HTTPClient: srv.Client()})
	require.NoError(t, err)
	ctx := context.Background()

	five, twenty := 5, 20
	l, err := c.PutLimit(ctx, "api.example.com", &five, &twenty)
	require.NoError(t, err)
	assert.Equal(t, "api.example.com", l.Key)
	require.NotNil(t, l.MaxConcurrency)
	assert.Equal(t, 5, *l.MaxConcurrency)
	l, err = c.PutLimit(ctx, "api.example.com", nil, &twenty)
	require.NoError(t, err)
	assert.Nil(t, l.MaxConcurrency)

	got, err := c.GetLimit(ctx, "api.example.com")
	require.NoError(t, err)
	require.NotNil(t, got.PerSecond)
	assert.Equal(t, 20, *got.PerSecond)
	list, err := c.ListLimits(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)

	_, err = c.PutLimit(ctx, "bad key", nil, &twenty)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 400, ce.Status)
	require.Len(t, ce.Errors, 1)
	assert.Equal(t, "key", ce.Errors[0].Field)

	tk, _, err := c.Create(ctx, client.CreateTask{DueAt: time.Now().Add(time.Hour), Target: client.Webhook(s.Sink.URL + "/hook"), LimitKey: "api.example.com"}, "")
	require.NoError(t, err)
	assert.Equal(t, "api.example.com", tk.LimitKey)

	require.NoError(t, c.DeleteLimit(ctx, "api.example.com"))
	_, err = c.GetLimit(ctx, "api.example.com")
	assert.True(t, client.IsNotFound(err), "%v", err)
	assert.True(t, client.IsNotFound(c.DeleteLimit(ctx, "api.example.com")))
}

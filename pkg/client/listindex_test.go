package client_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestListingNotEnabled: against a deployment without the list index (the
// default), List and All fail at once, without retrying the 501, with
// ErrListingNotEnabled wrapping the API's problem, which says how to turn
// the index on.
func TestListingNotEnabled(t *testing.T) {
	t.Parallel()
	s := stacktest.New(t, stacktest.Options{})
	var lists atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/tasks" {
			lists.Add(1)
		}
		s.API.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{DevTenant: "acme", HTTPClient: srv.Client(), MinBackoff: time.Millisecond})
	require.NoError(t, err)
	ctx := context.Background()

	// Creating works as ever.
	_, created, err := c.Create(ctx, client.CreateTask{DueAt: time.Now().Add(time.Hour), Target: client.Webhook(s.Sink.URL + "/hook")}, "")
	require.NoError(t, err)
	require.True(t, created)

	_, err = c.List(ctx, client.ListOptions{})
	require.ErrorIs(t, err, client.ErrListingNotEnabled)
	var e *client.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, http.StatusNotImplemented, e.Status)
	assert.Equal(t, "https://hourglass.dev/problems/not-enabled", e.Type)
	assert.Contains(t, e.Detail, "HOURGLASS_LIST_INDEX=1")
	assert.Contains(t, err.Error(), "HOURGLASS_LIST_INDEX")
	assert.EqualValues(t, 1, lists.Load(), "a 501 is not retried")

	n := 0
	for x, err := range c.All(ctx, client.ListOptions{}) {
		n++
		assert.Nil(t, x)
		assert.True(t, errors.Is(err, client.ErrListingNotEnabled), "%v", err)
	}
	assert.Equal(t, 1, n, "All yields the error once and stops")
	assert.EqualValues(t, 2, lists.Load())
}

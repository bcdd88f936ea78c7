package client_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/client"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// setup serves a test stack's API over HTTP, with the list index on
// (HOURGLASS_LIST_INDEX=1), and returns a client for tenant.
func setup(t *testing.T, tenant string) (*stacktest.Stack, *httptest.Server, *client.Client) {
	t.Helper()
	s := stacktest.New(t, stacktest.Options{ListIndex: true})
	srv := httptest.NewServer(s.API)
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL, client.Options{DevTenant: tenant, HTTPClient: srv.Client()})
	require.NoError(t, err)
	return s, srv, c
}

func TestEveryRoute(t *testing.T) {
	t.Parallel()
	s, srv, c := setup(t, "acme")
	ctx := context.Background()
	due := time.Now().Add(time.Hour).UTC().Truncate(time.Millisecond)
	hook := client.Webhook(s.Sink.URL + "/hook")

	require.NoError(t, c.Health(ctx))
	doc, err := c.OpenAPI(ctx)
	require.NoError(t, err)
	assert.Contains(t, string(doc), `"openapi"`)

	tk, created, err := c.Create(ctx, client.CreateTask{DueAt: due, Target: hook, Payload: map[string]int{"n": 1}, Labels: map[string]string{"team": "a"}}, "order-1")
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, "SCHEDULED", tk.State)
	again, created, err := c.Create(ctx, client.CreateTask{DueAt: due, Target: hook, Payload: map[string]int{"n": 1}, Labels: map[string]string{"team": "a"}}, "order-1")
	require.NoError(t, err)
	assert.False(t, created, "replayed by Idempotency-Key")
	assert.Equal(t, tk.ID, again.ID)

	got, err := c.Get(ctx, tk.ID)
	require.NoError(t, err)
	assert.JSONEq(t, `{"n":1}`, string(got.Payload))

	res, err := c.CreateBatch(ctx, []client.CreateTask{{DueAt: due.Add(time.Minute), Target: hook}, {DueAt: due, Target: client.Target{"kind": "pigeon"}}}, "")
	require.NoError(t, err)
	require.Len(t, res, 2)
	assert.Equal(t, 201, res[0].Status)
	assert.Equal(t, 400, res[1].Status)
	require.NotNil(t, res[1].Err)
	assert.Equal(t, "tasks[1].target.kind", res[1].Err.Errors[0].Field)

	up, err := c.Update(ctx, tk.ID, client.Patch{Payload: map[string]int{"n": 2}, ClearLabels: true})
	require.NoError(t, err)
	assert.Equal(t, tk.ID, up.ID)
	assert.Empty(t, up.Labels)
	newDue := due.Add(2 * time.Hour)
	moved, err := c.Update(ctx, tk.ID, client.Patch{DueAt: &newDue})
	require.NoError(t, err)
	assert.Equal(t, tk.ID, moved.Replaces)

	var ids []string
	for x, err := range c.All(ctx, client.ListOptions{Limit: 1, States: []string{"SCHEDULED"}}) {
		require.NoError(t, err)
		ids = append(ids, x.ID)
	}
	assert.Equal(t, []string{moved.ID, res[0].Task.ID}, ids, "newest due first, the replaced task (CANCELLED) filtered out")

	cancelled, err := c.Cancel(ctx, moved.ID)
	require.NoError(t, err)
	assert.Equal(t, "CANCELLED", cancelled.State)
	_, err = c.Update(ctx, moved.ID, client.Patch{Payload: 3})
	assert.True(t, client.IsConflict(err), "%v", err)

	// Tenant isolation through the client.
	other, err := client.New(srv.URL, client.Options{DevTenant: "globex", HTTPClient: srv.Client()})
	require.NoError(t, err)
	_, err = other.Get(ctx, res[0].Task.ID)
	assert.True(t, client.IsNotFound(err), "%v", err)
	_, err = other.Cancel(ctx, res[0].Task.ID)
	assert.True(t, client.IsNotFound(err), "%v", err)
	n := 0
	for _, err := range other.All(ctx, client.ListOptions{}) {
		require.NoError(t, err)
		n++
	}
	assert.Zero(t, n)
}

// flaky answers the first len(codes) requests with codes, then 201.
func flaky(t *testing.T, codes []int, retryAfter string) (*httptest.Server, *atomic.Int32, *[]string) {
	t.Helper()
	var n atomic.Int32
	var keys []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		if i < len(codes) {
			if retryAfter != "" {
				w.Header().Set("Retry-After", retryAfter)
			}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(codes[i])
			fmt.Fprintf(w, `{"type":"x","title":"t","status":%d}`, codes[i])
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"id":"0123456789abcdefghijklmnop","state":"SCHEDULED"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &n, &keys
}

func TestRetries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	req := client.CreateTask{DueAt: time.Now(), Target: client.Webhook("https://example.com/")}

	t.Run("429 and 5xx, with one Idempotency-Key", func(t *testing.T) {
		t.Parallel()
		srv, n, keys := flaky(t, []int{429, 503, 500}, "")
		var seen []int
		c, err := client.New(srv.URL, client.Options{DevTenant: "a", MinBackoff: time.Millisecond, OnRetry: func(status int, _ time.Duration) { seen = append(seen, status) }})
		require.NoError(t, err)
		tk, created, err := c.Create(ctx, req, client.RandomKey())
		require.NoError(t, err)
		assert.True(t, created)
		assert.Equal(t, "0123456789abcdefghijklmnop", tk.ID)
		assert.EqualValues(t, 4, n.Load())
		assert.Equal(t, []int{429, 503, 500}, seen)
		for _, k := range *keys {
			assert.Equal(t, (*keys)[0], k, "every retry carries the same key")
		}
		assert.NotEmpty(t, (*keys)[0])
	})

	t.Run("Retry-After is honoured", func(t *testing.T) {
		t.Parallel()
		srv, n, _ := flaky(t, []int{429}, "1")
		c, err := client.New(srv.URL, client.Options{DevTenant: "a", MinBackoff: time.Millisecond})
		require.NoError(t, err)
		start := time.Now()
		_, _, err = c.Create(ctx, req, "k")
		require.NoError(t, err)
		assert.GreaterOrEqual(t, time.Since(start), time.Second)
		assert.EqualValues(t, 2, n.Load())
	})

	t.Run("4xx is not retried; retries give up", func(t *testing.T) {
		t.Parallel()
		srv, n, _ := flaky(t, []int{400}, "")
		c, err := client.New(srv.URL, client.Options{DevTenant: "a", MinBackoff: time.Millisecond})
		require.NoError(t, err)
		_, _, err = c.Create(ctx, req, "k")
		var e *client.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 400, e.Status)
		assert.EqualValues(t, 1, n.Load())

		srv0, n0, _ := flaky(t, []int{503}, "")
		c0, err := client.New(srv0.URL, client.Options{DevTenant: "a", MinBackoff: time.Millisecond})
		require.NoError(t, err)
		_, _, err = c0.Create(ctx, req, "")
		require.ErrorAs(t, err, &e, "a create without a key is not retried on 5xx: it may have been written")
		assert.EqualValues(t, 1, n0.Load())

		srv2, n2, _ := flaky(t, []int{503, 503, 503}, "")
		c2, err := client.New(srv2.URL, client.Options{DevTenant: "a", MinBackoff: time.Millisecond, MaxRetries: 2})
		require.NoError(t, err)
		_, _, err = c2.Create(ctx, req, "k")
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 503, e.Status)
		assert.EqualValues(t, 3, n2.Load())
	})
}

func TestSigV4(t *testing.T) {
	t.Parallel()
	var auth, date, host string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, date, host = r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), r.Host
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"tasks":[]}`)
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/prod", client.Options{
		Credentials: credentials.NewStaticCredentialsProvider("AKIDEXAMPLE", "secret", ""), Region: "eu-west-1",
	})
	require.NoError(t, err)
	_, err = c.List(context.Background(), client.ListOptions{States: []string{"FAILED"}})
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), auth)
	assert.Contains(t, auth, "/eu-west-1/execute-api/aws4_request")
	assert.Contains(t, auth, "SignedHeaders=")
	assert.NotEmpty(t, date)
	assert.NotEmpty(t, host)

	_, err = client.New(srv.URL, client.Options{Credentials: aws.AnonymousCredentials{}})
	assert.Error(t, err, "SigV4 without a region is refused")
	_, err = client.New("ftp://x", client.Options{})
	assert.Error(t, err)
}

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// indexKeys scans the table (strongly consistent) and counts the task items
// and, among them, those carrying a by_tenant index key (gsi1pk or gsi1sk).
func indexKeys(t *testing.T, s *stacktest.Stack) (tasks, indexed int) {
	t.Helper()
	p := dynamodb.NewScanPaginator(dynamodb.NewFromConfig(s.Env.Config), &dynamodb.ScanInput{
		TableName: &s.Res.Table, FilterExpression: aws.String("attribute_exists(tenant)"), ConsistentRead: aws.Bool(true),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, it := range out.Items {
			tasks++
			_, pk := it["gsi1pk"]
			_, sk := it["gsi1sk"]
			if pk || sk {
				indexed++
			}
		}
	}
	return tasks, indexed
}

// writeEveryWay creates tasks for tenant by every API path that writes a
// task item: a create, a keyed create, a batch, and a reschedule (a new
// item). It returns the number of task items it expects in the table.
func writeEveryWay(t *testing.T, s *stacktest.Stack, tenant string) int {
	t.Helper()
	base := time.Now().Add(time.Hour)
	s.Create(tenant, base, nil)
	r := call(t, s, http.MethodPost, "/v1/tasks", tenant, mustJSON(t, bodyDue(s, base.Add(time.Minute), nil)), "Idempotency-Key", "k-1")
	require.Equal(t, http.StatusCreated, r.code, "body: %s", r.raw)
	batch := mustJSON(t, map[string]any{"tasks": []any{bodyDue(s, base.Add(2*time.Minute), nil), bodyDue(s, base.Add(3*time.Minute), nil)}})
	for _, res := range results(t, call(t, s, http.MethodPost, "/v1/tasks:batch", tenant, batch)) {
		require.EqualValues(t, http.StatusCreated, res["status"], "%v", res)
	}
	id := s.Create(tenant, base.Add(4*time.Minute), nil)
	r = call(t, s, http.MethodPatch, "/v1/tasks/"+id, tenant, mustJSON(t, map[string]any{"due_at": base.Add(5 * time.Minute).UTC().Format(time.RFC3339Nano)}))
	require.Equal(t, http.StatusOK, r.code, "body: %s", r.raw)
	require.NotEqual(t, id, r.body["id"], "a new due time is a new item")
	return 6
}

// TestListIndexOff: by default (HOURGLASS_LIST_INDEX unset) no task item
// carries the by_tenant keys, whatever wrote it, so the index costs no
// write; and GET /v1/tasks answers 501 problem+json saying how to turn the
// index on and what it costs.
func TestListIndexOff(t *testing.T) {
	t.Parallel()
	s := setup(t)
	want := writeEveryWay(t, s, "frugal")

	tasks, indexed := indexKeys(t, s)
	assert.Equal(t, want, tasks, "the control: every task item is there")
	assert.Zero(t, indexed, "no task item is in the by_tenant index")

	// Any listing, valid or not, is refused the same way (after auth).
	for _, q := range []string{"", "?limit=5", "?state=SCHEDULED&label=a%3Db", "?limit=0"} {
		req := httptest.NewRequest(http.MethodGet, "/v1/tasks"+q, nil)
		req.Header.Set("Authorization", "Bearer dev-frugal")
		rec := httptest.NewRecorder()
		s.API.ServeHTTP(rec, req)
		checkContract(t, req, rec)
		require.Equal(t, http.StatusNotImplemented, rec.Code, "GET /v1/tasks%s: %s", q, rec.Body.Bytes())
		assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"))
		assert.Empty(t, rec.Header().Get("Retry-After"), "retrying does not help")
		var p problem.Problem
		require.NoError(t, json.NewDecoder(bytes.NewReader(rec.Body.Bytes())).Decode(&p))
		assert.Equal(t, "https://hourglass.dev/problems/not-enabled", p.Type)
		assert.Equal(t, http.StatusNotImplemented, p.Status)
		assert.NotEmpty(t, p.Title)
		assert.Contains(t, p.Detail, "HOURGLASS_LIST_INDEX=1", "says how to turn it on")
		assert.Contains(t, p.Detail, "ListIndex", "names the CDK prop")
		assert.Contains(t, p.Detail, "one more DynamoDB write unit per task", "says what it costs")
	}
	// Without credentials it is still a 401, not a hint about the deployment.
	requireProblem(t, call(t, s, http.MethodGet, "/v1/tasks", "", nil), http.StatusUnauthorized)
}

// TestListIndexOn: with HOURGLASS_LIST_INDEX=1 every task item, whatever
// wrote it, carries the by_tenant keys, and listing finds them all.
func TestListIndexOn(t *testing.T) {
	t.Parallel()
	s := setupListing(t)
	want := writeEveryWay(t, s, "lister")

	tasks, indexed := indexKeys(t, s)
	assert.Equal(t, want, tasks)
	assert.Equal(t, want, indexed, "every task item is in the by_tenant index")
	ids, _ := listAll(t, s, "lister", "")
	assert.Len(t, ids, want, "the reschedule's cancelled original is listed too")
}

package devhost_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/config"
	"github.com/hourglass-sched/hourglass/pkg/devhost"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestDevDefaultsListTasks: `make dev` turns the list index on (the product
// default is off), so GET /v1/tasks on the local host lists what was
// created. It changes the process environment, so it is not parallel.
func TestDevDefaultsListTasks(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test")
	}
	for k := range devhost.DevDefaults {
		t.Setenv(k, "") // restored when the test ends
		require.NoError(t, os.Unsetenv(k))
	}
	devhost.ApplyDevDefaults()
	dev, err := config.Load()
	require.NoError(t, err)
	require.True(t, dev.ListIndex, "make dev lists tasks")
	require.Equal(t, 8, dev.CreateWriters, "make dev bounds create writes to what moto's DynamoDB takes")

	cfg := testConfig()
	cfg.ListIndex = dev.ListIndex
	base, _ := startHost(t, awstest.New(t), cfg, "devlist")
	do := func(method, path, body string) (int, map[string]any) {
		req, err := http.NewRequest(method, base+path, bytes.NewReader([]byte(body)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer dev-acme")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
	code, created := do(http.MethodPost, "/v1/tasks", fmt.Sprintf(`{"due_at":%q,"target":{"kind":"webhook","url":"http://127.0.0.1:9/hook"}}`, due))
	require.Equal(t, http.StatusCreated, code, "%v", created)
	code, list := do(http.MethodGet, "/v1/tasks", "")
	require.Equal(t, http.StatusOK, code, "%v", list)
	tasks, _ := list["tasks"].([]any)
	require.Len(t, tasks, 1)
	assert.Equal(t, created["id"], tasks[0].(map[string]any)["id"])
}

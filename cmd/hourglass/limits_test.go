package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLimits: put (with a flag left out: unlimited), get, list in both
// outputs, delete, then not found (exit 3); a bad value is the API's 400
// naming the field (exit 1).
func TestLimits(t *testing.T) {
	t.Parallel()
	h := setup(t)
	var l struct {
		Key            string `json:"key"`
		MaxConcurrency *int   `json:"max_concurrency"`
		PerSecond      *int   `json:"per_second"`
	}
	h.okJSON(t, &l, "limits", "put", "api.example.com", "--max-concurrency", "5", "--per-second", "20")
	require.NotNil(t, l.MaxConcurrency)
	assert.Equal(t, 5, *l.MaxConcurrency)
	l.MaxConcurrency, l.PerSecond = nil, nil
	h.okJSON(t, &l, "limits", "put", "api.example.com", "--per-second", "2")
	assert.Nil(t, l.MaxConcurrency, "left out: unlimited")
	require.NotNil(t, l.PerSecond)
	assert.Equal(t, 2, *l.PerSecond)

	r := h.run(t, "limits", "get", "api.example.com")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "unlimited")
	r = h.run(t, "limits", "list")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "api.example.com")
	var list struct {
		Limits []struct {
			Key string `json:"key"`
		} `json:"limits"`
	}
	h.okJSON(t, &list, "limits", "list")
	require.Len(t, list.Limits, 1)

	var tk struct {
		LimitKey string `json:"limit_key"`
	}
	h.okJSON(t, &tk, "tasks", "create", "--due", "+1h", "--webhook", h.s.Sink.URL+"/hook", "--limit-key", "api.example.com")
	assert.Equal(t, "api.example.com", tk.LimitKey)

	r = h.run(t, "limits", "put", "api.example.com", "--per-second", "0")
	assert.Equal(t, exitFailed, r.code)
	assert.Contains(t, r.stderr, "per_second")

	require.Equal(t, exitOK, h.run(t, "limits", "delete", "api.example.com").code)
	assert.Equal(t, exitNotFound, h.run(t, "limits", "get", "api.example.com").code)
	assert.Equal(t, exitNotFound, h.run(t, "limits", "delete", "api.example.com").code)
}

package chain_test

import (
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
)

// TestCreateForIngest covers the path CreateSchedule events take: the
// route's validation and store, with the event's token making a repeated
// delivery find the schedule the first created.
func TestCreateForIngest(t *testing.T) {
	e := setup(t)
	h := e.s.Comps.Schedules(nil).Service()
	ctx := t.Context()
	body, err := json.Marshal(map[string]any{"expression": "rate(1 hour)", "target": e.s.Webhook(), "labels": map[string]string{"via": "event"}})
	require.NoError(t, err)

	v, created, err := h.CreateWithToken(ctx, zerolog.Nop(), "acme", body, "ev-1")
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, schedule.TokenID("acme", "ev-1"), v.ID)
	assert.True(t, schedule.ValidID(v.ID))
	assert.Equal(t, schedule.Enabled, v.State)

	again, created, err := h.CreateWithToken(ctx, zerolog.Nop(), "acme", body, "ev-1")
	require.NoError(t, err)
	assert.False(t, created, "a redelivered event creates nothing")
	assert.Equal(t, v.ID, again.ID)
	assert.Equal(t, v.Version, again.Version)

	other, created, err := h.CreateWithToken(ctx, zerolog.Nop(), "globex", body, "ev-1")
	require.NoError(t, err)
	assert.True(t, created, "tokens are per tenant")
	assert.NotEqual(t, v.ID, other.ID)

	// The schedule is an ordinary one: the API reads it, and it has its
	// first occurrence.
	code, got := e.do(http.MethodGet, "/v1/schedules/"+v.ID, "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", got)
	assert.Equal(t, "rate(1 hour)", got["expression"])
	code, occ := e.do(http.MethodGet, "/v1/schedules/"+v.ID+"/occurrences", "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", occ)
	assert.Len(t, occ["occurrences"], 1)
	code, list := e.do(http.MethodGet, "/v1/schedules", "acme", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, list["schedules"], 1, "one schedule for two deliveries")

	for name, tc := range map[string]struct {
		tenant, token, body, field string
	}{
		"bad expression": {"acme", "ev-2", `{"expression":"rate(5 fortnights)","target":{"kind":"webhook","url":"http://127.0.0.1/x"}}`, "expression"},
		"no target":      {"acme", "ev-3", `{"expression":"rate(5 minutes)"}`, "target"},
		"read-only id":   {"acme", "ev-4", `{"id":"s0000000000000000000a","expression":"rate(5 minutes)"}`, "id"},
		"not an object":  {"acme", "ev-5", `[]`, "body"},
		"bad tenant":     {"-acme", "ev-6", string(body), "tenant"},
		"empty token":    {"acme", "", string(body), "idempotency token"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, created, err := h.CreateWithToken(ctx, zerolog.Nop(), tc.tenant, []byte(tc.body), tc.token)
			var inv *app.Invalid
			require.ErrorAs(t, err, &inv)
			assert.False(t, created)
			var fields []string
			for _, fe := range inv.Fields {
				fields = append(fields, fe.Field)
			}
			assert.Contains(t, fields, tc.field, "%+v", inv.Fields)
		})
	}
}

// TestCreateForIngestConcurrentDeliveries runs one event's deliveries at
// once, as the ingest poller may: one schedule, created once.
func TestCreateForIngestConcurrentDeliveries(t *testing.T) {
	e := setup(t)
	h := e.s.Comps.Schedules(nil).Service()
	body, err := json.Marshal(map[string]any{"expression": "rate(1 hour)", "target": e.s.Webhook()})
	require.NoError(t, err)
	const n = 4
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, ids := 0, map[string]bool{}
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, isNew, err := h.CreateWithToken(t.Context(), zerolog.Nop(), "acme", body, "ev-concurrent")
			if !assert.NoError(t, err) {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			ids[v.ID] = true
			if isNew {
				created++
			}
		}()
	}
	wg.Wait()
	// Never two creations. Usually exactly one delivery reports the
	// creation, but the one whose write went in can be answered with a
	// cancelled transaction — an applied attempt whose answer was lost and
	// was retried, or, on moto, transactions that are not atomic under
	// concurrent requests — and then reports a replay: zero is possible.
	assert.LessOrEqual(t, created, 1, "one delivery creates it; the others replay")
	assert.Equal(t, map[string]bool{schedule.TokenID("acme", "ev-concurrent"): true}, ids)
	code, list := e.do(http.MethodGet, "/v1/schedules", "acme", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Len(t, list["schedules"], 1)
}

// TestCreateForIngestAgainAfterDelete: once a token's schedule is deleted,
// the same token creates it again (as CreateWithToken promises), even
// though the deleted incarnation's first occurrence task — whose ID
// derives from the schedule's ID, generation and fire time — is still
// stored: the new incarnation's first generation differs from the old's.
func TestCreateForIngestAgainAfterDelete(t *testing.T) {
	e := setup(t)
	h := e.s.Comps.Schedules(nil).Service()
	at := time.Now().UTC().Add(time.Hour).Truncate(time.Second)
	body, err := json.Marshal(map[string]any{"expression": "at(" + at.Format("2006-01-02T15:04:05") + ")", "target": e.s.Webhook()})
	require.NoError(t, err)

	first, created, err := h.CreateWithToken(t.Context(), zerolog.Nop(), "acme", body, "ev-again")
	require.NoError(t, err)
	require.True(t, created)
	code, _ := e.do(http.MethodDelete, "/v1/schedules/"+first.ID, "acme", nil)
	require.Equal(t, http.StatusNoContent, code)

	second, created, err := h.CreateWithToken(t.Context(), zerolog.Nop(), "acme", body, "ev-again")
	require.NoError(t, err, "the deleted schedule's occurrence must not block the token's new schedule")
	assert.True(t, created)
	assert.Equal(t, first.ID, second.ID, "the token's ID")
	assert.NotEqual(t, first.Generation, second.Generation, "a new incarnation")
	code, occ := e.do(http.MethodGet, "/v1/schedules/"+second.ID+"/occurrences", "acme", nil)
	require.Equal(t, http.StatusOK, code, "%v", occ)
	require.NotEmpty(t, occ["occurrences"])
}

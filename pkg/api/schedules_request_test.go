package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/api"
	"github.com/hourglass-sched/hourglass/pkg/app"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
)

// TestDecodeBodyRefusesAmbiguousJSON: the decoder both schedule doors
// (HTTP and EventBridge ingest) share refuses a body that does not mean
// one thing, naming the place, before any field is read.
func TestDecodeBodyRefusesAmbiguousJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, field string }{
		{"expression twice", `{"expression":"rate(1 minute)","expression":"rate(1 day)"}`, "expression"},
		{"target url twice", `{"expression":"rate(1 minute)","target":{"kind":"webhook","url":"http://169.254.169.254/","url":"https://example.com/h"}}`, "target.url"},
		{"payload key twice", `{"payload":{"a":[{"b":1,"b":2}]}}`, "payload.a[0].b"},
		{"payload not UTF-8", "{\"payload\":\"\xc3\x28\"}", "payload"},
		{"not UTF-8 outside strings", "{}\xff", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, fe := schedule.DecodeBody([]byte(tc.body))
			require.NotNil(t, fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
	raw, fe := schedule.DecodeBody([]byte(`{"expression":"rate(1 minute)","payload":{"a":1,"A":2}}`))
	require.Nil(t, fe)
	assert.Len(t, raw, 2)
	_, fe = schedule.DecodeBody([]byte(`[]`))
	require.NotNil(t, fe)
	assert.Equal(t, "body", fe.Field)
}

// TestHandlerRefusesUncleanPaths: the schedule API served on its own (not
// behind wire.HTTP) answers an unclean path with a 404 problem, not its
// mux's redirect.
func TestHandlerRefusesUncleanPaths(t *testing.T) {
	t.Parallel()
	h := api.NewScheduleHandler(app.NewSchedules(app.SchedulesConfig{}, nil, nil, clock.NewManual(time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)), zerolog.Nop()), api.DevAuth{}, clock.NewManual(time.Date(2030, 3, 4, 9, 0, 0, 0, time.UTC)), zerolog.Nop())
	for _, p := range []string{"//v1/schedules", "/v1/./schedules", "/v1/schedules/a/../b", "/v1/schedules//", "/v1//schedules:preview"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		u, err := url.ParseRequestURI(p)
		require.NoError(t, err)
		req.URL, req.RequestURI = u, p
		req.Header.Set("Authorization", "Bearer dev-acme")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusNotFound, rec.Code, p)
		assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"), p)
	}
}

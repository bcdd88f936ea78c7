package chain_test

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/chain"
	"github.com/hourglass-sched/hourglass/pkg/clock"
	"github.com/hourglass-sched/hourglass/pkg/schedule"
	"github.com/hourglass-sched/hourglass/pkg/task"
)

// TestChainNeverMaterialisesBeyondHorizon: a fire time further ahead than
// a task may be due (task.Limits.MaxHorizon) is never stored as an
// occurrence task; one inside it is.
func TestChainNeverMaterialisesBeyondHorizon(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, expr string
		stored     bool
	}{
		{"next fire 10 years ahead", "cron(0 9 4 3 ? 2030,2040)", false},
		{"next fire in 2199", "cron(0 9 4 3 ? 2030,2199)", false},
		{"next fire a year ahead", "cron(0 9 4 3 ? *)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := sched(tc.expr, schedule.RunOnce)
			st := newStore() // its cursor has announced nothing
			require.NoError(t, st.CreateSchedule(context.Background(), s, nil))
			c := chain.New(chain.Config{Limits: task.DefaultLimits(), Shards: 4, Layout: task.Layout{Bucket: time.Minute}}, st, nil, clock.NewManual(t0.Add(time.Second)), zerolog.Nop())
			occ, err := s.Task(schedule.Occ{At: t0, Due: t0}, 4, t0)
			require.NoError(t, err)
			require.NoError(t, c.Next(context.Background(), occ))
			put, err := st.Occurrences(context.Background(), s.Tenant, s.ID, 10)
			require.NoError(t, err)
			if !tc.stored {
				assert.Empty(t, put)
				return
			}
			require.Len(t, put, 1)
			assert.Equal(t, t0.AddDate(1, 0, 0), put[0].Due)
		})
	}
}

func TestDecodeSpecBoundsStartAndEnd(t *testing.T) {
	t.Parallel()
	target := `"target":{"kind":"webhook","url":"https://example.com/h"}`
	for _, tc := range []struct{ name, body, field string }{
		{"start_at in year 9999", `{"expression":"rate(1 minute)","start_at":"9999-12-31T23:59:59Z",` + target + `}`, "start_at"},
		{"start_at in year 0000", `{"expression":"rate(1 minute)","start_at":"0000-01-01T00:00:00Z",` + target + `}`, "start_at"},
		{"start_at before 1970", `{"expression":"rate(1 minute)","start_at":"1969-12-31T23:59:59Z",` + target + `}`, "start_at"},
		{"start_at beyond the horizon", `{"expression":"rate(1 minute)","start_at":"2031-03-05T09:00:00.001Z",` + target + `}`, "start_at"},
		{"end_at in year 9999", `{"expression":"rate(1 minute)","end_at":"9999-12-31T23:59:59Z",` + target + `}`, "end_at"},
		{"end_at in year 0000", `{"expression":"rate(1 minute)","state":"DISABLED","end_at":"0000-01-01T00:00:00Z",` + target + `}`, "end_at"},
		{"at() beyond the horizon", `{"expression":"at(2035-01-01T00:00:00)",` + target + `}`, "expression"},
		{"cron first firing in 2199", `{"expression":"cron(0 0 1 1 ? 2199)",` + target + `}`, "expression"},
		{"first fire inside, flexible window beyond", `{"expression":"at(2031-03-05T08:00:00)","flexible_window_minutes":1440,` + target + `}`, "expression"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, fe := schedule.DecodeBody([]byte(tc.body))
			require.Nil(t, fe)
			_, errs := schedule.DecodeSpec(raw, t0, task.DefaultLimits(), nil)
			require.Len(t, errs, 1, "%+v", errs)
			assert.Equal(t, tc.field, errs[0].Field)
		})
	}
	for _, body := range []string{
		`{"expression":"rate(1 minute)","start_at":"2031-03-04T09:00:00Z","end_at":"2129-01-01T00:00:00Z",` + target + `}`,
		`{"expression":"rate(1 minute)","start_at":"1970-01-01T00:00:00Z",` + target + `}`,
		`{"expression":"at(2031-03-05T08:00:00)",` + target + `}`,
	} {
		raw, fe := schedule.DecodeBody([]byte(body))
		require.Nil(t, fe)
		_, errs := schedule.DecodeSpec(raw, t0, task.DefaultLimits(), nil)
		assert.Empty(t, errs, body)
	}
}

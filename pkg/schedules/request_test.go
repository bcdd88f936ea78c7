package schedules_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/schedules"
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
			_, fe := schedules.DecodeBody([]byte(tc.body))
			require.NotNil(t, fe)
			assert.Equal(t, tc.field, fe.Field)
		})
	}
	raw, fe := schedules.DecodeBody([]byte(`{"expression":"rate(1 minute)","payload":{"a":1,"A":2}}`))
	require.Nil(t, fe)
	assert.Len(t, raw, 2)
	_, fe = schedules.DecodeBody([]byte(`[]`))
	require.NotNil(t, fe)
	assert.Equal(t, "body", fe.Field)
}

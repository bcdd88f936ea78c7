package ddbstore

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/task"
)

func TestPackBodyRoundTrip(t *testing.T) {
	t.Parallel()
	cases := map[string]*task.Task{
		"webhook, bytes kept as sent": {Target: task.TargetOf("webhook", json.RawMessage(`{"kind":"webhook", "url":"https://example.com/h"}`)),
			Payload: json.RawMessage("{ \"n\" : 1,\n \"s\": \"\\u00e9\" }"), Retry: task.Retry{InitialBackoff: time.Second, MaxBackoff: 5 * time.Minute}},
		"no payload, no backoff": {Target: task.TargetOf("sqs", json.RawMessage(`{"kind":"sqs","queue_url":"q","role_arn":"arn:aws:iam::1:role/r"}`))},
		"large payload":          {Target: task.TargetOf("lambda", json.RawMessage(`{}`)), Payload: json.RawMessage(`"` + string(make([]byte, 300)) + `"`), Retry: task.Retry{InitialBackoff: 1500 * time.Millisecond, MaxBackoff: 24 * time.Hour}},
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var out task.Task
			require.NoError(t, unpackBody(&out, packBody(in)))
			assert.Equal(t, in.Target, out.Target, "kind, spec and the role read from it")
			assert.Equal(t, string(in.Payload), string(out.Payload), "byte for byte")
			assert.Equal(t, in.Retry.InitialBackoff, out.Retry.InitialBackoff)
			assert.Equal(t, in.Retry.MaxBackoff, out.Retry.MaxBackoff)
		})
	}
}

func TestUnpackBodyRefusesDamage(t *testing.T) {
	t.Parallel()
	good := packBody(&task.Task{Target: task.TargetOf("webhook", json.RawMessage(`{"url":"u"}`)), Payload: json.RawMessage(`{"n":1}`)})
	for name, b := range map[string][]byte{
		"empty":          nil,
		"unknown format": append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-3],
		"length too big": {bodyV1, 0x7f},
	} {
		var out task.Task
		assert.Error(t, unpackBody(&out, b), name)
	}
}

// FuzzUnpackBody: any stored bytes decode or fail cleanly, and what
// packBody wrote always decodes to itself.
func FuzzUnpackBody(f *testing.F) {
	f.Add(packBody(&task.Task{Target: task.TargetOf("webhook", json.RawMessage(`{"url":"u"}`)), Payload: json.RawMessage(`{"n":1}`)}), "k", "s", "p")
	f.Fuzz(func(t *testing.T, b []byte, kind, spec, payload string) {
		var out task.Task
		_ = unpackBody(&out, b)
		in := &task.Task{Target: task.Target{Kind: kind, Spec: json.RawMessage(spec)}, Payload: json.RawMessage(payload)}
		require.NoError(t, unpackBody(&out, packBody(in)))
		if out.Target.Kind != kind || string(out.Target.Spec) != spec || string(out.Payload) != payload {
			t.Fatalf("round trip changed the fields")
		}
	})
}

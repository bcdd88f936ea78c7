package task

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScanUnitRoundTrip(t *testing.T) {
	t.Parallel()
	for _, u := range []ScanUnit{{}, {Bucket: 1_893_456_000, Shard: 7}, {Bucket: -60, Shard: 65535, Sweep: true}} {
		b, err := json.Marshal(u)
		require.NoError(t, err)
		got, err := DecodeScanUnit(string(b))
		require.NoError(t, err)
		assert.Equal(t, u, got)
	}
	got, err := DecodeScanUnit(`{"bucket":120,"shard":3,"sweep":true}`)
	require.NoError(t, err)
	assert.Equal(t, ScanUnit{Bucket: 120, Shard: 3, Sweep: true}, got)
}

func TestDecodeScanUnitRejects(t *testing.T) {
	t.Parallel()
	for _, body := range []string{"", "{", `[]`, `{"bucket":"120"}`, `{"shard":65536}`, `{"shard":-1}`, `{"bucket":1.5}`} {
		_, err := DecodeScanUnit(body)
		require.Error(t, err, body)
		assert.Contains(t, err.Error(), "decode scan unit")
	}
}

func TestDecodeTaskMessage(t *testing.T) {
	t.Parallel()
	id := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 99}
	b, err := json.Marshal(TaskMessage{ID: id.String(), PH: "abc"})
	require.NoError(t, err)
	m, got, err := DecodeTaskMessage(string(b))
	require.NoError(t, err)
	assert.Equal(t, TaskMessage{ID: id.String(), PH: "abc"}, m)
	assert.Equal(t, id, got)

	for _, tc := range []struct {
		body string
		bad  bool // the ID, not the JSON, is wrong
	}{
		{"", false},
		{`{"id":5}`, false},
		{`{}`, true},
		{`{"id":"nope","ph":"x"}`, true},
		{`{"id":"` + id.String()[:25] + `1"}`, true}, // non-canonical
	} {
		_, got, err := DecodeTaskMessage(tc.body)
		require.Error(t, err, tc.body)
		assert.Equal(t, ID{}, got)
		assert.Equal(t, tc.bad, errors.Is(err, ErrBadID), tc.body)
	}
}

func TestTaskMessageOrigin(t *testing.T) {
	t.Parallel()
	id := ID{DueMs: 1_893_456_000_123, Shard: 11, Random: 99}
	tk := &Task{ID: id, PayloadHash: "abc"}

	body := NewTaskMessage(tk, OriginDispatch).Encode()
	assert.JSONEq(t, `{"id":"`+id.String()+`","ph":"abc","o":"dispatch"}`, body)
	m, got, err := DecodeTaskMessage(body)
	require.NoError(t, err)
	assert.Equal(t, id, got)
	assert.Equal(t, OriginDispatch, m.Origin)
	assert.Equal(t, "dispatch", m.Describe())

	// A message from before origins decodes, its origin unknown.
	old, _, err := DecodeTaskMessage(`{"id":"` + id.String() + `","ph":"abc"}`)
	require.NoError(t, err)
	assert.Equal(t, OriginUnknown, old.Origin)
	assert.Equal(t, "unknown", old.Describe())

	// A re-queue keeps the first origin, however often it is re-queued.
	rq := m.Requeued().Requeued()
	assert.Equal(t, TaskMessage{ID: id.String(), PH: "abc", Origin: OriginRequeue, RequeuedFrom: OriginDispatch}, rq)
	assert.Equal(t, "requeue:dispatch", rq.Describe())
	back, _, err := DecodeTaskMessage(rq.Encode())
	require.NoError(t, err)
	assert.Equal(t, rq, back)
}

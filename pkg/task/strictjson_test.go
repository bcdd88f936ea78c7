package task

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckJSONRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, prefix, field, reason string
	}{
		{"duplicate top-level key", `{"a":1,"a":2}`, "", "a", "named twice"},
		{"duplicate target url", `{"target":{"kind":"webhook","url":"http://169.254.169.254/","url":"https://example.com/"}}`, "", "target.url", "named twice"},
		{"duplicate by escape", `{"target":{"url":"x","\u0075rl":"y"}}`, "", "target.url", "named twice"},
		{"duplicate by two escapes", `{"\u0061":1,"\u0061":2}`, "", "a", "named twice"},
		{"duplicate by escaped solidus", `{"a/b":1,"a\/b":2}`, "", "a/b", "named twice"},
		{"duplicate deep in payload", `{"payload":{"items":[{"id":1},{"id":2,"id":3}]}}`, "", "payload.items[1].id", "named twice"},
		{"duplicate in nested arrays", `{"payload":[[{}],[{"k":1,"k":1}]]}`, "", "payload[1][0].k", "named twice"},
		{"duplicate after many keys", `{` + manyKeys(40) + `,"k7":0}`, "", "k7", "named twice"},
		{"duplicate with prefix", `{"labels":{"a":"1","a":"2"}}`, "tasks[3].", "tasks[3].labels.a", "named twice"},
		{"duplicate in a root array", `[{"x":1,"x":1}]`, "", "[0].x", "named twice"},
		{"invalid UTF-8 in payload", "{\"payload\":{\"s\":\"a\xffb\"}}", "", "payload.s", "not UTF-8 (at byte 18)"},
		{"invalid UTF-8 in a key", "{\"payload\":{\"\xc3\":1}}", "", "payload.\uFFFD", "not UTF-8"},
		{"invalid UTF-8 in an array", "{\"payload\":[\"ok\",\"\xed\xa0\x80\"]}", "", "payload[1]", "not UTF-8"},
		{"invalid UTF-8 outside any string", "{\"a\":1}\xff", "", "body", "not UTF-8 (at byte 7)"},
		{"invalid UTF-8 with prefix at the root", "\xfe{}", "tasks[0].", "tasks[0]", "not UTF-8"},
		{"overlong encoding", "{\"p\":\"\xc0\xaf\"}", "", "p", "not UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fe := CheckJSON([]byte(tc.body), tc.prefix)
			require.NotNil(t, fe)
			assert.Equal(t, tc.field, fe.Field)
			assert.Contains(t, fe.Reason, tc.reason)
		})
	}
}

func TestCheckJSONAccepts(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{}`, `[]`, `null`, `1`, `"s"`, `{"a":1,"A":2}`, `{"a":{"a":{"a":1}}}`, `[{"a":1},{"a":1}]`,
		`{"a":[1,2,{"b":null}],"b":"x"}`, `{` + manyKeys(100) + `}`,
		`{"s":"café 日本 🙂"}`, `{"s":"\ud83d\ude42"}`, `{"\u0061":1,"b":2,"\"":3,"\\":4}`,
		// Not JSON: left to the caller's decoder.
		`{`, `{"a":}`, ``, `{"a":1}{"a":2}`,
		strings.Repeat("[", 20000) + strings.Repeat("]", 20000),
	} {
		assert.Nil(t, CheckJSON([]byte(body), ""), "%.80s", body)
	}
}

// TestDecodeCreateRefusesAmbiguousJSON: every door's shared decoder refuses
// a body that does not mean one thing, naming the place.
func TestDecodeCreateRefusesAmbiguousJSON(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, body, field string }{
		{"target url twice", `{"due_at":"2030-01-02T15:04:05Z","target":{"kind":"webhook","url":"http://169.254.169.254/latest/meta-data/","url":"https://example.com/hook"}}`, "tasks[1].target.url"},
		{"due_at twice", `{"due_at":"2030-01-02T15:04:05Z","due_at":"2031-01-02T15:04:05Z","target":{"kind":"webhook","url":"https://example.com/hook"}}`, "tasks[1].due_at"},
		{"payload key twice", `{"due_at":"2030-01-02T15:04:05Z","target":{"kind":"webhook","url":"https://example.com/hook"},"payload":{"amount":1,"amount":1000}}`, "tasks[1].payload.amount"},
		{"payload not UTF-8", "{\"due_at\":\"2030-01-02T15:04:05Z\",\"target\":{\"kind\":\"webhook\",\"url\":\"https://example.com/hook\"},\"payload\":\"\xff\"}", "tasks[1].payload"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, errs := DecodeCreate([]byte(tc.body), "tasks[1].", testNow, DefaultLimits(), testValidator)
			require.Len(t, errs, 1)
			assert.Equal(t, tc.field, errs[0].Field)
		})
	}
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strconv.Itoa(i) + `":0`)
	}
	return b.String()
}

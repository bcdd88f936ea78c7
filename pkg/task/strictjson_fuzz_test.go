package task

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzCheckJSON checks CheckJSON against oracles that share none of its
// code: on valid JSON, the number of keys a document names is the number of
// colons outside its strings, and encoding/json's maps keep one entry per
// distinct key, so a refusal for a repeated key must see fewer entries than
// colons and an acceptance exactly as many; bytes that are not UTF-8 are
// always refused; the allocation-free screen never clears a body the
// token walk refuses; and every refusal names a field below the prefix.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1,"a":2}`, `{"a":{"b":[{"c":1,"c":2}]}}`, `{"u\u0072l":1,"url":2}`, `[{"a":1},{"a":1}]`,
		`{"a":1,"A":1}`, "{\"a\":\"\xff\"}", "\xff", `{"a":"x:y","b":{"c:":1}}`, `{"a":"\"","a":1}`,
		`{"target":{"kind":"webhook","url":"http://169.254.169.254/","url":"https://example.com/"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fe := CheckJSON(body, "p.")
		if walked := walkJSON(body, "p."); walked != nil {
			require.Equal(t, walked, fe, "the screen cleared a body the walk refuses")
		}
		if !utf8.Valid(body) {
			require.NotNil(t, fe, "bytes that are not UTF-8 were accepted")
		}
		if fe != nil {
			require.True(t, strings.HasPrefix(fe.Field, "p"), fe.Field)
			require.NotEmpty(t, fe.Reason)
		}
		if !json.Valid(body) || !utf8.Valid(body) {
			return
		}
		colons := colonsOutsideStrings(body)
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return // too deep for encoding/json
		}
		entries := mapEntries(v)
		if fe == nil {
			require.Equal(t, colons, entries, "a repeated key was accepted")
		} else {
			require.Contains(t, fe.Reason, "named twice")
			require.Less(t, entries, colons, "refused a document without a repeated key")
		}
	})
}

func colonsOutsideStrings(b []byte) int {
	n, in, esc := 0, false, false
	for _, c := range b {
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && c == ':':
			n++
		}
	}
	return n
}

func mapEntries(v any) int {
	switch x := v.(type) {
	case map[string]any:
		n := len(x)
		for _, e := range x {
			n += mapEntries(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += mapEntries(e)
		}
		return n
	}
	return 0
}

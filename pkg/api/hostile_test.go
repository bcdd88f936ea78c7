package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/problem"
	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// hostile is one request an attacker or a broken client might send.
type hostile struct {
	name, method, path string
	body               []byte
	headers            []string
}

// forbiddenURLs spell unreachable or internal addresses many ways (the test
// stack lets only 127.0.0.0/8 through, as make dev does).
var forbiddenURLs = []string{
	"http://169.254.169.254/latest/meta-data/",
	"https://169.254.169.254/latest/meta-data/",
	"https://[::ffff:169.254.169.254]/",
	"https://[::ffff:a9fe:a9fe]/",
	"https://2852039166/",          // 169.254.169.254 as one decimal number
	"https://0xa9fea9fe/",          // … as hex
	"https://0251.0376.0251.0376/", // … as octal
	"https://169.254.169.254:443@example.com@169.254.169.254/",
	"https://user:pw@10.0.0.1/",
	"https://10.1/",
	"https://192.168.0.1/",
	"https://[fd00::1]/",
	"https://[fe80::1]/",
	"https://0.0.0.0/",
	"https://[::]/",
	"file:///etc/passwd",
	"gopher://example.com/",
	"ftp://example.com/",
	"https:///nohost",
	"https://exa mple.com/",
	"javascript:alert(1)",
	"",
}

func hostileRequests(s *stacktest.Stack, id string) []hostile {
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	wh := `{"kind":"webhook","url":"` + s.Sink.URL + `/hook"}`
	withTarget := func(tg string) []byte {
		return []byte(`{"due_at":"` + due + `","target":` + tg + `}`)
	}
	var hs []hostile
	post := func(name string, body []byte, headers ...string) {
		hs = append(hs, hostile{name: "create: " + name, method: http.MethodPost, path: "/v1/tasks", body: body, headers: headers})
		hs = append(hs, hostile{name: "batch: " + name, method: http.MethodPost, path: "/v1/tasks:batch",
			body: append(append([]byte(`{"tasks":[`), body...), ']', '}'), headers: headers})
		if len(headers) == 0 { // PATCH ignores Idempotency-Key: with it, the body is a valid reschedule
			hs = append(hs, hostile{name: "patch: " + name, method: http.MethodPatch, path: "/v1/tasks/" + id, body: body})
		}
	}
	// Malformed JSON.
	for _, b := range []string{``, `{`, `}`, `{"due_at":}`, `{"due_at":"` + due + `",}`, `nul`, `{"a":1}{"b":2}`, "\xff\xfe{}", `{"due_at":"` + due + `"` + strings.Repeat(" ", 10) + `,"target":` + wh, `'{}'`} {
		hs = append(hs, hostile{name: "malformed " + b, method: http.MethodPost, path: "/v1/tasks", body: []byte(b)})
		hs = append(hs, hostile{name: "malformed batch " + b, method: http.MethodPost, path: "/v1/tasks:batch", body: []byte(b)})
		hs = append(hs, hostile{name: "malformed patch " + b, method: http.MethodPatch, path: "/v1/tasks/" + id, body: []byte(b)})
	}
	// Wrong types.
	for _, b := range []string{
		`{"due_at":1,"target":` + wh + `}`,
		`{"due_at":["` + due + `"],"target":` + wh + `}`,
		`{"due_at":"` + due + `","target":[` + wh + `]}`,
		`{"due_at":"` + due + `","target":{"kind":7}}`,
		`{"due_at":"` + due + `","target":{"kind":"webhook","url":7}}`,
		`{"due_at":"` + due + `","target":` + wh + `,"retry":"often"}`,
		`{"due_at":"` + due + `","target":` + wh + `,"retry":{"max_attempts":"3"}}`,
		`{"due_at":"` + due + `","target":` + wh + `,"retry":{"max_attempts":1e400}}`,
		`{"due_at":"` + due + `","target":` + wh + `,"labels":7}`,
		`{"due_at":"` + due + `","target":` + wh + `,"labels":{"a":{"b":1}}}`,
		`{"due_at":"` + due + `","target":` + wh + `,"idempotency_key":{}}`,
		`{"due_at":"` + due + `","target":` + wh + `,"idempotency_key":"a\u0000b"}`,
		`[]`, `"task"`, `42`, `true`,
	} {
		post("wrong type "+b, []byte(b))
	}
	// Unknown target kinds.
	for _, k := range []string{"carrier-pigeon", "WEBHOOK", "webhook ", "", "lambda\u0000", "../webhook"} {
		post("target kind "+k, withTarget(`{"kind":"`+k+`","url":"https://example.com/"}`))
	}
	// Forbidden URLs.
	for _, u := range forbiddenURLs {
		post("url "+u, withTarget(`{"kind":"webhook","url":"`+u+`"}`))
	}
	// Huge and deeply nested bodies.
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	post("deeply nested payload", []byte(`{"due_at":"`+due+`","target":`+wh+`,"payload":`+deep+`}`))
	post("deeply nested labels", []byte(`{"due_at":"`+due+`","target":`+wh+`,"labels":`+strings.Repeat(`{"a":`, 20000)+`1`+strings.Repeat("}", 20000)+`}`))
	post("payload over the limit", []byte(`{"due_at":"`+due+`","target":`+wh+`,"payload":"`+strings.Repeat("x", 256<<10)+`"}`))
	post("due beyond the horizon", []byte(`{"due_at":"2999-01-01T00:00:00Z","target":`+wh+`}`))
	post("due before 1970", []byte(`{"due_at":"1960-01-01T00:00:00Z","target":`+wh+`}`))
	post("17 labels", []byte(`{"due_at":"`+due+`","target":`+wh+`,"labels":{`+labels(17)+`}}`))
	post("idempotency header too long", withTarget(wh), "Idempotency-Key", strings.Repeat("k", 4096))
	post("idempotency header with control", withTarget(wh), "Idempotency-Key", "a\tb")
	post("idempotency header not UTF-8", withTarget(wh), "Idempotency-Key", "a\xffb")
	post("target url twice", []byte(`{"due_at":"`+due+`","target":{"kind":"webhook","url":"http://169.254.169.254/latest/meta-data/","url":"`+s.Sink.URL+`/hook"}}`))
	post("target url twice by escape", []byte(`{"due_at":"`+due+`","target":{"kind":"webhook","url":"`+s.Sink.URL+`/a","\u0075rl":"`+s.Sink.URL+`/b"}}`))
	post("due_at twice", []byte(`{"due_at":"`+due+`","due_at":"`+due+`","target":`+wh+`}`))
	post("payload key twice", []byte(`{"due_at":"`+due+`","target":`+wh+`,"payload":{"amount":1,"amount":1000}}`))
	post("payload not UTF-8", []byte("{\"due_at\":\""+due+"\",\"target\":"+wh+",\"payload\":\"\xff\xfe\"}"))
	post("label value not UTF-8", []byte("{\"due_at\":\""+due+"\",\"target\":"+wh+",\"labels\":{\"a\":\"\xc3\"}}"))
	post("due_at offset +24:00", []byte(`{"due_at":"`+time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04:05")+`+24:00","target":`+wh+`}`))
	post("due_at offset -23:60", []byte(`{"due_at":"`+time.Now().Add(48*time.Hour).UTC().Format("2006-01-02T15:04:05")+`-23:60","target":`+wh+`}`))
	post("idempotency header with C1 control", withTarget(wh), "Idempotency-Key", "a\u0085b")
	post("idempotency header with bidi override", withTarget(wh), "Idempotency-Key", "a\u202eb")
	post("idempotency header with line separator", withTarget(wh), "Idempotency-Key", "a\u2028b")
	post("label with bidi override", []byte(`{"due_at":"`+due+`","target":`+wh+`,"labels":{"team":"\u202epay"}}`))
	post("label key with C1 control", []byte(`{"due_at":"`+due+`","target":`+wh+`,"labels":{"te\u0085am":"pay"}}`))
	post("webhook header value with line separator", withTarget(`{"kind":"webhook","url":"`+s.Sink.URL+`/hook","headers":{"X-A":"a\u2028b"}}`))
	hs = append(hs,
		hostile{name: "body of 10 MiB", method: http.MethodPost, path: "/v1/tasks", body: bytes.Repeat([]byte(" "), 10<<20)},
		hostile{name: "batch of 10 MiB", method: http.MethodPost, path: "/v1/tasks:batch", body: bytes.Repeat([]byte(" "), 10<<20)},
		hostile{name: "batch of 101", method: http.MethodPost, path: "/v1/tasks:batch", body: []byte(`{"tasks":[` + strings.TrimSuffix(strings.Repeat(string(withTarget(wh))+",", 101), ",") + `]}`)},
		hostile{name: "batch of 10000 nulls", method: http.MethodPost, path: "/v1/tasks:batch", body: []byte(`{"tasks":[` + strings.TrimSuffix(strings.Repeat("null,", 10000), ",") + `]}`)},
	)
	// Path tricks in IDs.
	for _, p := range []string{
		"/v1/tasks/" + strings.ToUpper(id), "/v1/tasks/" + id + "/", "/v1/tasks/" + id + "%00", "/v1/tasks/" + id + "x",
		"/v1/tasks/../tasks/" + id, "/v1/tasks/./" + id, "/v1/tasks//" + id, "/v1/tasks/%2e%2e%2fhealthz", "/v1/tasks/..%2f..%2fhealthz",
		"/v1/tasks/" + id[:25], "/v1/tasks/" + strings.Repeat("0", 10000), "/v1/tasks/%ff%fe", "/v1/tasks/" + id + "%2f..",
		"/v1/tasks/" + id + ";x=1", "/v1/tasks/{id}", "/v1/tasks/%7Bid%7D", "/v1/tasks%2f" + id, "/v1/tasks%3Abatch",
	} {
		for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			hs = append(hs, hostile{name: "path " + m + " " + p, method: m, path: p, body: []byte(`{"payload":1}`)})
		}
	}
	// Hostile queries.
	for _, q := range []string{"limit=-1", "limit=1e9", "limit=99999999999999999999", "state=SCHEDULED%00", "state=' OR 1=1", "due_after=0",
		"due_before=-1", "label=" + strings.Repeat("k", 5000) + "=v", "page_token=" + strings.Repeat("A", 5000), "page_token=..%2F", "%zz", "limit=%00",
		"due_after=2030-01-02T00:00:00%2B24:00", "due_before=2030-01-02T00:00:00-24:00", "due_after=2030-01-02T00:00:00%2B23:60"} {
		hs = append(hs, hostile{name: "query " + q, method: http.MethodGet, path: "/v1/tasks?" + q})
	}
	return hs
}

func labels(n int) string {
	var parts []string
	for i := range n {
		parts = append(parts, `"k`+strings.Repeat("x", i)+`":"v"`)
	}
	return strings.Join(parts, ",")
}

// TestHostileInput: every hostile request is a 4xx problem+json (or, for a
// batch, 200 with every result a 4xx), never a 5xx, and nothing is written.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	s := setupListing(t) // so that the hostile queries reach the list parser
	id := s.Create("victim", time.Now().Add(time.Hour), nil)
	before := s.Get(id)
	hs := hostileRequests(s, id)
	t.Logf("%d hostile requests", len(hs))
	for _, h := range hs {
		req := httptest.NewRequest(h.method, "/", bytes.NewReader(h.body))
		// url.Parse, not httptest's resolution: keep "..", "." and "//" as sent.
		u, err := url.Parse(h.path)
		if err != nil {
			t.Logf("%s: not a URL (%v): no server would route it", h.name, err)
			continue
		}
		req.URL, req.RequestURI = u, h.path
		req.Header.Set("Authorization", "Bearer dev-victim")
		for i := 0; i+1 < len(h.headers); i += 2 {
			req.Header.Set(h.headers[i], h.headers[i+1])
		}
		rec := httptest.NewRecorder()
		s.API.ServeHTTP(rec, req)
		name := h.name
		if len(name) > 120 {
			name = name[:120] + "…"
		}
		if rec.Code == http.StatusOK && h.path == "/v1/tasks:batch" {
			assert.NotContains(t, rec.Body.String(), `"status":201`, "%s: a batch task was created", name)
			assert.NotContains(t, rec.Body.String(), `"status":5`, name)
			continue
		}
		if !assert.True(t, rec.Code >= 400 && rec.Code < 500, "%s: %d %.300s", name, rec.Code, rec.Body.String()) {
			continue
		}
		assert.Equal(t, problem.ContentType, rec.Header().Get("Content-Type"), name)
		checkContract(t, req, rec)
	}
	assert.Equal(t, 1, countTasks(t, s), "a hostile request wrote a task")
	assert.Equal(t, before, s.Get(id), "a hostile request changed the task")
	// The control: a well-formed create from the same tenant works.
	require.Equal(t, http.StatusCreated, call(t, s, http.MethodPost, "/v1/tasks", "victim", mustJSON(t, validBody(s))).code)
}

package api_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hourglass-sched/hourglass/pkg/testkit/stacktest"
)

// FuzzCreateHandler sends arbitrary bodies and Idempotency-Keys to
// POST /v1/tasks and POST /v1/tasks:batch on a real stack and asserts the
// API never answers 5xx and never writes on a 4xx.
//
// It needs the emulator (the store is real): `go test` runs the seed
// corpus below against it; fuzzing needs a running emulator too and is
// slow (a few inputs a second: each costs emulator round trips), so bound
// the minimization of new inputs by count, or it stalls for a minute each:
//
//	HOURGLASS_REQUIRE_EMULATOR=1 go test -run '^$' -fuzz '^FuzzCreateHandler$' \
//	    -fuzztime 5m -fuzzminimizetime 3x -parallel 1 ./pkg/api/
func FuzzCreateHandler(f *testing.F) {
	s := stacktest.New(f, stacktest.Options{})
	due := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	wh := `{"kind":"webhook","url":"` + s.Sink.URL + `/hook"}`
	for _, seed := range []struct{ body, key string }{
		{`{"due_at":"` + due + `","target":` + wh + `}`, ""},
		{`{"due_at":"` + due + `","target":` + wh + `,"payload":{"a":[1,2,{"b":null}]},"labels":{"x":"y"}}`, "k1"},
		{`{"due_at":"` + due + `","target":` + wh + `,"retry":{"max_attempts":3,"initial_backoff_ms":100,"max_backoff_ms":100}}`, ""},
		{`{"due_at":"` + due + `","target":{"kind":"webhook","url":"https://169.254.169.254/"}}`, ""},
		{`{"due_at":"` + due + `","target":{"kind":"sqs","queue_url":"not a url"}}`, ""},
		{`{"due_at":"` + due + `","target":{"kind":"nope"}}`, "k2"},
		{`{"due_at":"2999-01-01T00:00:00Z","target":` + wh + `}`, ""},
		{`{"due_at":"` + due + `"`, ""},
		{`{"tasks":[{"due_at":"` + due + `","target":` + wh + `},{}]}`, "batch"},
		{`{"tasks":[` + strings.Repeat("[", 100) + `]}`, ""},
		{strings.Repeat("[", 11000), ""},
		{`{"due_at":"` + due + `","target":` + wh + `,"labels":{"a=b":"c"}}`, "\x00"},
		{``, ""},
		{`null`, "k3"},
	} {
		f.Add([]byte(seed.body), seed.key)
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		for _, path := range []string{"/v1/tasks", "/v1/tasks:batch"} {
			before := countTasks(t, s)
			req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer dev-fuzz")
			if key != "" && !strings.ContainsAny(key, "\r\n") {
				req.Header["Idempotency-Key"] = []string{key}
			}
			rec := httptest.NewRecorder()
			s.API.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("%s answered %d: %s", path, rec.Code, rec.Body.Bytes())
			}
			after := countTasks(t, s)
			refused := rec.Code >= 400 || (path == "/v1/tasks:batch" && !bytes.Contains(rec.Body.Bytes(), []byte(`"status":201`)))
			if refused && after != before {
				t.Fatalf("%s answered %d yet wrote %d task(s): %s", path, rec.Code, after-before, rec.Body.Bytes())
			}
			checkContract(t, req, rec)
		}
	})
}

package sigv4_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/sigv4"
)

var now = time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC)

func verifier() *sigv4.Verifier {
	return &sigv4.Verifier{Service: "scheduler", Resolver: sigv4.DevResolver{}, Now: func() time.Time { return now }}
}

// signed builds a request as a client would send it, signs it with the
// SDK's own signer, and returns it as a server parses it off the wire.
func signed(t testing.TB, method, target, body, key, secret, service string, at time.Time) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, "http://127.0.0.1:8120"+target, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	sum := sha256.Sum256([]byte(body))
	err = v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, req, hex.EncodeToString(sum[:]), service, "eu-west-3", at)
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, req.Write(&buf))
	srv, err := http.ReadRequest(bufio.NewReader(&buf))
	require.NoError(t, err)
	return srv
}

func verify(t testing.TB, r *http.Request) (string, error) {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	require.NoError(t, err)
	return verifier().Verify(context.Background(), r, body)
}

func code(err error) string {
	var e *sigv4.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestVerifyAcceptsTheSDKSigner(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, method, target, body string }{
		{"get", http.MethodGet, "/schedules/my-schedule", ""},
		{"query", http.MethodGet, "/schedules?NamePrefix=a%20b&MaxResults=5&State=ENABLED&ScheduleGroup=g", ""},
		{"repeated query values", http.MethodDelete, "/tags/arn?TagKeys=z&TagKeys=a", ""},
		{"escaped ARN in path", http.MethodPost, "/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A123456789012%3Aschedule-group%2Fdefault", `{"Tags":[{"Key":"k","Value":"v"}]}`},
		{"body", http.MethodPost, "/schedules/n", `{"ScheduleExpression":"rate(1 minute)","Target":{"Arn":"arn:aws:sqs:eu-west-3:1:q"}}`},
		{"unicode name", http.MethodGet, "/schedules/%C3%A9t%C3%A9", ""},
		{"root", http.MethodGet, "/", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tenant, err := verify(t, signed(t, tc.method, tc.target, tc.body, "dev-acme", "dev", "scheduler", now.Add(-time.Minute)))
			require.NoError(t, err)
			require.Equal(t, "acme", tenant)
		})
	}
}

func TestVerifyOverHTTP(t *testing.T) {
	t.Parallel()
	// The real server path: the request crosses a socket and net/http parses it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tenant, err := (&sigv4.Verifier{Service: "scheduler", Resolver: sigv4.DevResolver{}}).Verify(r.Context(), r, body)
		if err != nil {
			http.Error(w, code(err), http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, tenant)
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/tags/arn%3Aaws%3Ascheduler%3Aus-east-1%3A1%3Aschedule%2Fdefault%2Fx?a=b%2Fc", strings.NewReader(`{"x":1}`))
	require.NoError(t, err)
	sum := sha256.Sum256([]byte(`{"x":1}`))
	require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), aws.Credentials{AccessKeyID: "dev-team_1", SecretAccessKey: "dev"}, req, hex.EncodeToString(sum[:]), "scheduler", "us-east-1", time.Now()))
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(got))
	require.Equal(t, "team_1", string(got))
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	ok := func() *http.Request {
		return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-acme", "dev", "scheduler", now)
	}
	for _, tc := range []struct {
		name string
		req  func() *http.Request
		code string
	}{
		{"wrong secret", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-acme", "not-dev", "scheduler", now)
		}, sigv4.CodeInvalidSignature},
		{"unknown key", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "AKIAEXAMPLE", "dev", "scheduler", now)
		}, sigv4.CodeUnrecognizedClient},
		{"bad dev tenant", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-a.b", "dev", "scheduler", now)
		}, sigv4.CodeUnrecognizedClient},
		{"stale date", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-acme", "dev", "scheduler", now.Add(-5*time.Minute-time.Second))
		}, sigv4.CodeInvalidSignature},
		{"future date", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-acme", "dev", "scheduler", now.Add(6*time.Minute))
		}, sigv4.CodeInvalidSignature},
		{"other service", func() *http.Request {
			return signed(t, http.MethodPost, "/schedules/n", `{"a":1}`, "dev-acme", "dev", "execute-api", now)
		}, sigv4.CodeInvalidSignature},
		{"tampered path", func() *http.Request { r := ok(); r.URL.Path, r.URL.RawPath = "/schedules/m", ""; return r }, sigv4.CodeInvalidSignature},
		{"tampered query", func() *http.Request { r := ok(); r.URL.RawQuery = "x=1"; return r }, sigv4.CodeInvalidSignature},
		{"tampered method", func() *http.Request { r := ok(); r.Method = http.MethodPut; return r }, sigv4.CodeInvalidSignature},
		{"tampered host", func() *http.Request { r := ok(); r.Host = "evil.example"; return r }, sigv4.CodeInvalidSignature},
		{"date header changed", func() *http.Request {
			r := ok()
			r.Header.Set("X-Amz-Date", now.Add(time.Second).Format("20060102T150405Z"))
			return r
		}, sigv4.CodeInvalidSignature},
		{"no authorization", func() *http.Request { r := ok(); r.Header.Del("Authorization"); return r }, sigv4.CodeMissingToken},
		{"other algorithm", func() *http.Request {
			r := ok()
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256", "AWS4-ECDSA-P256-SHA256", 1))
			return r
		}, sigv4.CodeInvalidSignature},
		{"host not signed", func() *http.Request {
			r := ok()
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "SignedHeaders=", "SignedHeaders=x-amz-date;", 1))
			return r
		}, sigv4.CodeInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, tc.req())
			require.Error(t, err)
			require.Equal(t, tc.code, code(err), err.Error())
		})
	}
	t.Run("tampered body", func(t *testing.T) {
		t.Parallel()
		_, err := verifier().Verify(context.Background(), ok(), []byte(`{"a":2}`))
		require.Equal(t, sigv4.CodeInvalidSignature, code(err))
	})
}

type failing struct{}

func (failing) Resolve(context.Context, string) (string, string, error) {
	return "", "", errors.New("store down")
}

type fixed map[string][2]string

func (f fixed) Resolve(_ context.Context, id string) (string, string, error) {
	if v, ok := f[id]; ok {
		return v[0], v[1], nil
	}
	return "", "", sigv4.ErrUnknownKey
}

func TestChain(t *testing.T) {
	t.Parallel()
	c := sigv4.Chain(fixed{"AKIA1": {"t1", "s1"}}, sigv4.DevResolver{})
	tenant, secret, err := c.Resolve(context.Background(), "AKIA1")
	require.NoError(t, err)
	require.Equal(t, [2]string{"t1", "s1"}, [2]string{tenant, secret})
	tenant, _, err = c.Resolve(context.Background(), "dev-zed")
	require.NoError(t, err)
	require.Equal(t, "zed", tenant)
	_, _, err = c.Resolve(context.Background(), "AKIA2")
	require.ErrorIs(t, err, sigv4.ErrUnknownKey)
	// A store failure is not an unknown key: it stops the chain and is a 500, not a 403.
	_, _, err = sigv4.Chain(failing{}, sigv4.DevResolver{}).Resolve(context.Background(), "dev-zed")
	require.Error(t, err)
	require.NotErrorIs(t, err, sigv4.ErrUnknownKey)
	v := &sigv4.Verifier{Service: "scheduler", Resolver: failing{}, Now: func() time.Time { return now }}
	r := signed(t, http.MethodGet, "/schedules", "", "dev-acme", "dev", "scheduler", now)
	_, err = v.Verify(context.Background(), r, nil)
	require.Error(t, err)
	require.Empty(t, code(err), "a resolver failure is not the caller's fault")
}

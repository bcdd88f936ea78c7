package assume_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/hourglass-sched/hourglass/pkg/target"
	"github.com/hourglass-sched/hourglass/pkg/target/assume"
	"github.com/hourglass-sched/hourglass/pkg/target/sqstarget"
	"github.com/hourglass-sched/hourglass/pkg/testkit/awstest"
)

// TestMain fails the run on leaked goroutines (see awstest.VerifyTestMain).
func TestMain(m *testing.M) { awstest.VerifyTestMain(m) }

// call is one request the recording proxy passed to the emulator.
type call struct {
	op    string // "AssumeRole", "GetCallerIdentity", "SendMessage", …
	keyID string // the access key ID that signed it
	form  url.Values
}

// recorder is a reverse proxy in front of the emulator that notes each
// request's operation and signing key, so a test sees which credentials
// called what.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

var credential = regexp.MustCompile(`Credential=([^/]+)/`)

func (r *recorder) ops(op string) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.op == op {
			out = append(out, c)
		}
	}
	return out
}

// setup returns the emulator's account, an SDK config whose calls pass
// through a recorder, and the recorder.
func setup(t *testing.T) (string, aws.Config, *recorder) {
	t.Helper()
	env := awstest.New(t)
	up, err := url.Parse(env.Endpoint)
	require.NoError(t, err)
	rec := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(up)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		c := call{}
		if m := credential.FindStringSubmatch(r.Header.Get("Authorization")); m != nil {
			c.keyID = m[1]
		}
		if tgt := r.Header.Get("X-Amz-Target"); tgt != "" {
			c.op = tgt[strings.LastIndex(tgt, ".")+1:]
		} else if f, err := url.ParseQuery(string(body)); err == nil {
			c.op, c.form = f.Get("Action"), f
		}
		rec.mu.Lock()
		rec.calls = append(rec.calls, c)
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := env.Config.Copy()
	cfg.BaseEndpoint = aws.String(srv.URL)
	return env.AccountID, cfg, rec
}

// TestCrossAccountSQS drives the guarded SQS executor as the worker does:
// a queue of another account with an allow-listed role is sent to with
// that role's credentials, assumed once with the external ID
// "hourglass:<tenant>" and then reused; a queue of Hourglass's own
// account is sent to with Hourglass's own credentials (the role is not
// assumed); a role not on the tenant's allow-list is refused before any
// call.
func TestCrossAccountSQS(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	own, cfg, rec := setup(t)
	require.NotEmpty(t, own)
	client := sqs.NewFromConfig(cfg)
	q, err := client.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("orders")})
	require.NoError(t, err)
	other := "210987654321"
	require.NotEqual(t, own, other)
	role := "arn:aws:iam::" + other + ":role/hourglass-orders"

	allow, err := target.ParseAllow("acme=arn:aws:sqs:*|"+role+",globex=arn:aws:sqs:*", nil)
	require.NoError(t, err)
	roles := assume.New(sts.NewFromConfig(cfg), "")
	exec := target.Guard(sqstarget.New(client).AssumeWith(roles), &target.Policy{Allow: allow})

	// The emulator serves every account at one host; the queue URL's path
	// names the account, which is what decides cross-account.
	base := strings.TrimSuffix(aws.ToString(q.QueueUrl), "/"+own+"/orders")
	spec := func(account, role string) json.RawMessage {
		b, err := json.Marshal(map[string]string{"kind": "sqs", "queue_url": base + "/" + account + "/orders", "role_arn": role})
		require.NoError(t, err)
		require.Empty(t, exec.Validate(b))
		return b
	}
	inv := func(tenant string, spec json.RawMessage) target.Invocation {
		return target.Invocation{TaskID: "t1", Tenant: tenant, Attempt: 1, IdempotencyKey: "k1", Payload: json.RawMessage(`{"n":1}`), Spec: spec}
	}

	_, err = exec.Execute(ctx, inv("acme", spec(other, role)))
	require.NoError(t, err)
	assumed := rec.ops("AssumeRole")
	require.Len(t, assumed, 1)
	assert.Equal(t, role, assumed[0].form.Get("RoleArn"))
	assert.Equal(t, "hourglass:acme", assumed[0].form.Get("ExternalId"))
	assert.Equal(t, "hourglass-acme", assumed[0].form.Get("RoleSessionName"))
	assert.Equal(t, "test", assumed[0].keyID, "assumed with Hourglass's own credentials")
	sent := rec.ops("SendMessage")
	require.Len(t, sent, 1)
	assert.NotEqual(t, "test", sent[0].keyID, "sent with the role's credentials")
	roleKey := sent[0].keyID

	_, err = exec.Execute(ctx, inv("acme", spec(other, role)))
	require.NoError(t, err)
	assert.Len(t, rec.ops("AssumeRole"), 1, "the credentials are cached")
	assert.Equal(t, roleKey, rec.ops("SendMessage")[1].keyID)

	_, err = exec.Execute(ctx, inv("acme", spec(own, role)))
	require.NoError(t, err)
	assert.Len(t, rec.ops("AssumeRole"), 1, "in Hourglass's own account the role is recorded, not assumed")
	assert.Equal(t, "test", rec.ops("SendMessage")[2].keyID)

	out, err := client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	require.NotEmpty(t, out.Messages)
	assert.JSONEq(t, `{"n":1}`, aws.ToString(out.Messages[0].Body))

	_, err = exec.Execute(ctx, inv("globex", spec(other, role)))
	require.Error(t, err, "globex's allow-list names the queue, not the role")
	assert.True(t, target.IsPermanent(err))
	assert.Contains(t, err.Error(), "role_arn")
	assert.Len(t, rec.ops("AssumeRole"), 1, "refused before any call")
	assert.Len(t, rec.ops("SendMessage"), 3)
}

func TestSessionName(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "hourglass-acme", assume.SessionName("acme"))
	assert.Equal(t, "hourglass-a-b-c-d@x.y", assume.SessionName("a b/c:d@x.y"))
	assert.Len(t, assume.SessionName(strings.Repeat("x", 100)), 64)
}

package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/hourglass-sched/hourglass/pkg/sdkhttp"
)

// Region is the region every Env's config uses.
const Region = "us-east-1"

// MotoAccountHeader is the request header moto reads the caller's account
// from. moto ignores it when its server runs with MOTO_ACCOUNT_ID set, which
// is why scripts/emulator.sh unsets that variable.
const MotoAccountHeader = "x-moto-account-id"

// localStackAccountID is the account LocalStack assigns to the access key "test".
const localStackAccountID = "000000000000"

// Retry policy: the emulator is slow and single-threaded under load, so give
// calls more attempts than the SDK's default three, and no client-side retry
// quota, which would otherwise turn a burst of throttles into hard failures.
const (
	maxAttempts = 10
	maxBackoff  = 2 * time.Second
)

// Env is one test's view of the emulator: an SDK config and the names and
// account that keep its resources apart from every other test's.
type Env struct {
	// Config is an aws-sdk-go-v2 config for the emulator: region us-east-1,
	// static credentials "test"/"test", the endpoint as BaseEndpoint (which
	// per-service variables such as AWS_ENDPOINT_URL_SQS override), a
	// patient retryer and, on moto, this Env's account header on every call.
	// Pass it to any service's NewFromConfig.
	Config aws.Config
	// Endpoint is the emulator's base URL. Per-service variables such as
	// AWS_ENDPOINT_URL_DYNAMODB may send some services elsewhere.
	Endpoint string
	// Backend is the kind of emulator behind Endpoint.
	Backend Backend
	// AccountID is the account this Env's resources live in, for building
	// ARNs. On moto it is unique to the Env; elsewhere it is shared, and empty
	// when the backend would not say.
	AccountID string
	// Prefix is what Name puts before every resource name: empty on moto,
	// where the account isolates, and unique to the Env elsewhere.
	Prefix string
}

// New returns a fresh, isolated Env for tb, or skips or fails tb when no
// emulator answers (see the package doc). Call it once per test; parallel
// tests each get their own.
func New(tb testing.TB) *Env {
	tb.Helper()
	tg := current(tb)
	e := &Env{Endpoint: tg.Endpoint, Backend: tg.Backend}
	var headerAccount string
	if tg.Backend == Moto {
		headerAccount = newAccountID()
		e.AccountID = headerAccount
	} else {
		e.AccountID = tg.AccountID
		e.Prefix = newPrefix()
	}

	hc, closeIdle := newHTTPClient(2 * time.Minute)
	// Closing idle connections when the test ends lets goleak in a TestMain
	// see no lingering connection goroutines.
	tb.Cleanup(closeIdle)

	cfg, err := loadConfig(context.Background(), tg.Endpoint, headerAccount, hc)
	if err != nil {
		tb.Fatalf("awstest: load AWS config for %s: %v", tg.Endpoint, err)
	}
	e.Config = cfg
	return e
}

// Name returns the name to give a resource called base in this Env: base
// itself on moto, Prefix+base elsewhere. Names stay valid for DynamoDB tables,
// SQS queues, EventBridge buses and rules and Lambda functions as long as base
// is, less 11 characters of length.
func (e *Env) Name(base string) string { return e.Prefix + base }

// Config returns New(tb).Config, for tests that need nothing else.
func Config(tb testing.TB) aws.Config {
	tb.Helper()
	return New(tb).Config
}

// Endpoint returns the emulator's base URL, resolved once per process, or
// skips or fails tb when no emulator answers.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	return current(tb).Endpoint
}

// resolvedTarget is the process-wide outcome of resolution.
type resolvedTarget struct {
	target
	// AccountID is the backend's account for non-moto backends.
	AccountID string
}

var (
	resolveOnce sync.Once
	resolved    resolvedTarget
	resolveErr  error
	// misconfigured is set when an emulator answers but cannot isolate
	// tests; that fails every test rather than skipping it.
	misconfigured error
)

// current resolves the emulator on first use and reports a missing one to tb.
func current(tb testing.TB) resolvedTarget {
	tb.Helper()
	resolveOnce.Do(func() {
		// Long enough for a first LocalStack image pull.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		resolved.target, resolveErr = realResolver().resolve(ctx)
		switch {
		case resolveErr != nil:
		case resolved.Backend == Moto:
			probe := newAccountID()
			got, err := callerAccount(ctx, resolved.Endpoint, probe)
			if err != nil {
				misconfigured = fmt.Errorf("awstest: check that moto at %s isolates accounts: %w", resolved.Endpoint, err)
			} else if got != probe {
				misconfigured = fmt.Errorf("awstest: moto at %s answers for account %q when asked for %q with the %s header, so tests cannot be isolated; restart it without MOTO_ACCOUNT_ID in its environment (scripts/emulator.sh does that)",
					resolved.Endpoint, got, probe, MotoAccountHeader)
			}
		default:
			resolved.AccountID, _ = callerAccount(ctx, resolved.Endpoint, "")
			if resolved.AccountID == "" && resolved.Backend == LocalStack {
				resolved.AccountID = localStackAccountID
			}
		}
	})
	if misconfigured != nil {
		tb.Fatal(misconfigured)
	}
	if resolveErr != nil {
		unavailable(tb, os.Getenv, resolveErr)
	}
	return resolved
}

// unavailable skips tb, or fails it when the emulator is required.
func unavailable(tb testing.TB, getenv func(string) string, err error) {
	tb.Helper()
	if required(getenv) {
		tb.Fatalf("awstest: %v; %s (the emulator is required: %s=1 or CI is set)", err, startHint, envRequire)
		return
	}
	tb.Skipf("awstest: %v; %s (set %s=1 to fail instead of skipping)", err, startHint, envRequire)
}

// loadConfig builds the SDK config for endpoint. It goes through
// LoadDefaultConfig so that per-service endpoint variables apply. Region,
// credentials, endpoint and retryer are explicit, so a developer's AWS_PROFILE
// can neither point tests at a real account nor sign with real keys; the
// shared files are still read, because the SDK fails when AWS_PROFILE names a
// profile it cannot find in them.
func loadConfig(ctx context.Context, endpoint, motoAccount string, hc aws.HTTPClient) (aws.Config, error) {
	opts := []func(*config.LoadOptions) error{
		config.WithRegion(Region),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		config.WithHTTPClient(hc),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = maxBackoff
				o.RateLimiter = ratelimit.None
			})
		}),
		// As pkg/config does for the functions: without it, the emulator's
		// quick answers are lost now and then and applied writes retried.
		config.WithAPIOptions([]func(*middleware.Stack) error{sdkhttp.PlainRequestBody}),
	}
	if motoAccount != "" {
		opts = append(opts, config.WithAPIOptions([]func(*middleware.Stack) error{
			smithyhttp.AddHeaderValue(MotoAccountHeader, motoAccount),
		}))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	// Set after loading, not with config.WithBaseEndpoint: that load option
	// outranks per-service variables such as AWS_ENDPOINT_URL_DYNAMODB,
	// whereas aws.Config.BaseEndpoint yields to them.
	cfg.BaseEndpoint = aws.String(endpoint)
	return cfg, nil
}

// newHTTPClient returns the SDK's own buildable client (config adds to its
// transport, e.g. for AWS_CA_BUNDLE, which a plain *http.Client would refuse)
// and a function that closes the idle connections of every transport built
// from it.
func newHTTPClient(timeout time.Duration) (*awshttp.BuildableClient, func()) {
	var (
		mu    sync.Mutex
		built []*http.Transport
	)
	hc := awshttp.NewBuildableClient().WithTimeout(timeout).WithTransportOptions(func(tr *http.Transport) {
		// Parallel callers in one test share the Env; the default of 2 idle
		// connections per host would make them reconnect constantly.
		tr.MaxIdleConnsPerHost = 32
		mu.Lock()
		built = append(built, tr)
		mu.Unlock()
		allTransports.add(tr)
	})
	return hc, func() {
		mu.Lock()
		defer mu.Unlock()
		for _, tr := range built {
			tr.CloseIdleConnections()
		}
	}
}

// transportSet is every transport this package built in the process.
type transportSet struct {
	mu  sync.Mutex
	all []*http.Transport
}

func (s *transportSet) add(tr *http.Transport) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, tr)
}

// closeIdle closes the idle connections of every transport built so far.
func (s *transportSet) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, tr := range s.all {
		tr.CloseIdleConnections()
	}
}

// allTransports lets VerifyTestMain close, before it looks for leaks, the
// keep-alive connections of requests that finished after their test's
// cleanup had closed its idle ones (a poll still draining, say): pooled
// connections of the harness's own clients, not leaks.
var allTransports transportSet

// callerAccount asks the backend which account a caller is in: with
// motoAccount, as that moto account; without, as the test credentials.
func callerAccount(ctx context.Context, endpoint, motoAccount string) (string, error) {
	hc, closeIdle := newHTTPClient(10 * time.Second)
	defer closeIdle()
	cfg, err := loadConfig(ctx, endpoint, motoAccount, hc)
	if err != nil {
		return "", err
	}
	// Only the base endpoint counts here, whatever AWS_ENDPOINT_URL_STS says.
	out, err := sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(endpoint) }).
		GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", fmt.Errorf("sts GetCallerIdentity: %w", err)
	}
	return aws.ToString(out.Account), nil
}

// issuedAccounts holds the account IDs this process has handed out, so that
// two Envs of one process never share an account.
var issuedAccounts sync.Map

// newAccountID returns a random 12-digit account ID not yet issued in this
// process. Other processes (go test runs packages in parallel, all against one
// moto) draw from the same 9e11 IDs at random; with tens of thousands of Envs
// on one moto a clash stays below one in a thousand.
func newAccountID() string {
	for {
		n, _ := rand.Int(rand.Reader, big.NewInt(900_000_000_000)) // crypto/rand never fails since Go 1.24
		id := fmt.Sprintf("%012d", n.Int64()+100_000_000_000)
		if id == "123456789012" { // moto's default account, shared by every caller without the header
			continue
		}
		if _, dup := issuedAccounts.LoadOrStore(id, struct{}{}); !dup {
			return id
		}
	}
}

// newPrefix returns a random name prefix: "hg", 8 hex digits and a hyphen.
func newPrefix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return "hg" + hex.EncodeToString(b) + "-"
}

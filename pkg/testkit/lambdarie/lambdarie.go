// Package lambdarie runs Lambda bootstrap binaries under the AWS Lambda
// Runtime Interface Emulator (RIE) for tests, so that a function's main
// package — config, clients, lambda.Start and all — is exercised as a real
// Lambda process and invoked over the emulator's HTTP API.
//
// The emulator binary is installed by scripts/tools.sh into bin/ at the
// module root; HOURGLASS_RIE names another one. Without it, Start skips the
// test, unless HOURGLASS_REQUIRE_EMULATOR=1 (as in CI), where it fails.
//
// Each Function is one emulator process bound to 127.0.0.1 on free ports,
// running one copy of the bootstrap. Its environment is built from scratch
// (not inherited from the test), as in Lambda: see Start.
package lambdarie

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// EnvRIE names an environment variable holding the path of the
	// aws-lambda-rie binary, overriding the search for bin/aws-lambda-rie.
	EnvRIE = "HOURGLASS_RIE"
	// EnvRequire names an environment variable that, set to "1", turns a
	// missing emulator from a skipped test into a failed one.
	EnvRequire = "HOURGLASS_REQUIRE_EMULATOR"

	// FunctionName is the only function name the emulator serves: SDK
	// clients pointed at Endpoint must invoke this name.
	FunctionName = "function"

	invokePath = "/2015-03-31/functions/" + FunctionName + "/invocations"
	rieName    = "aws-lambda-rie"

	// readyTimeout bounds the wait for the emulator's HTTP server. It
	// answers within milliseconds; the slack is for loaded CI machines.
	readyTimeout = 15 * time.Second
	// stopTimeout bounds the graceful shutdown (SIGTERM makes the emulator
	// kill the runtime and exit) before the process group gets SIGKILL.
	stopTimeout = 5 * time.Second
	// startAttempts covers the small window in which another process can
	// take a port between our probe and the emulator's bind.
	startAttempts = 3
)

// Function is a bootstrap binary running under the emulator. Its methods are
// safe for concurrent use; invocations are serialized, because the emulator
// runs one at a time (as one Lambda execution environment does).
type Function struct {
	endpoint string
	client   *http.Client
	log      *logBuffer

	invokeMu sync.Mutex
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the emulator process has exited
	waitErr  error         // valid once exited is closed
}

// Start runs bootstrap (a path to a Lambda bootstrap binary, for example one
// from BuildBootstrap) under the emulator and returns once the emulator
// answers HTTP. The function process itself starts on the first Invoke, as a
// cold start does in Lambda. The emulator is stopped, and its log printed if
// the test failed, when tb's cleanup runs.
//
// The function's environment is PATH from the test process plus Lambda-like
// defaults — AWS_LAMBDA_FUNCTION_NAME=hourglass-test,
// AWS_LAMBDA_FUNCTION_TIMEOUT=30 (seconds), AWS_REGION and
// AWS_DEFAULT_REGION=us-east-1, TZ=:UTC, and dummy credentials
// AWS_ACCESS_KEY_ID=AWS_SECRET_ACCESS_KEY=test so that SDK clients never
// reach for instance metadata — overridden and extended by env. Pass the
// emulator endpoints (AWS_ENDPOINT_URL and friends) and the function's own
// configuration in env; nothing else leaks in from the test's environment.
func Start(tb testing.TB, bootstrap string, env map[string]string) *Function {
	tb.Helper()
	rie := findRIE(tb)
	abs, err := filepath.Abs(bootstrap)
	if err != nil {
		tb.Fatalf("lambdarie: resolve bootstrap %q: %v", bootstrap, err)
	}
	if fi, err := os.Stat(abs); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		tb.Fatalf("lambdarie: bootstrap %q is not an executable file (stat error: %v)", abs, err)
	}
	environ := buildEnv(env)

	var lastErr error
	for range startAttempts {
		f, err := launch(rie, abs, environ)
		if err == nil {
			tb.Cleanup(func() {
				f.stop()
				if tb.Failed() {
					tb.Logf("lambdarie: %s log (bootstrap %s):\n%s", rieName, abs, f.Log())
				}
			})
			return f
		}
		lastErr = err
		var pe *portError
		if !errors.As(err, &pe) {
			break
		}
	}
	tb.Fatalf("lambdarie: start %s: %v", rieName, lastErr)
	return nil
}

// Endpoint is the emulator's base URL (http://127.0.0.1:PORT). An AWS SDK
// Lambda client whose BaseEndpoint is set to it can Invoke the function
// under the name FunctionName.
func (f *Function) Endpoint() string { return f.endpoint }

// Log returns what the emulator and the function have printed so far.
func (f *Function) Log() string { return f.log.String() }

// Invoke sends one synchronous invocation with payload (normally JSON) and
// returns the function's response. An error the function returned comes
// back as a *FunctionError, an emulator failure (a crashed or timed-out
// runtime, for example) as a *StatusError.
//
// Cancelling ctx abandons the request but not the invocation: the emulator
// finishes it (up to AWS_LAMBDA_FUNCTION_TIMEOUT) before serving the next.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	f.invokeMu.Lock()
	defer f.invokeMu.Unlock()

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.endpoint+invokePath, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("lambdarie: invoke: build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("lambdarie: invoke: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("lambdarie: invoke: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{StatusCode: resp.StatusCode, Body: body}
	}
	if fe := parseFunctionError(body); fe != nil {
		return nil, fe
	}
	return body, nil
}

// FunctionError is an error that the function returned, or that its
// runtime reported for it (a panic, an undecodable payload), for one
// invocation: the Lambda error shape {"errorMessage", "errorType",
// "stackTrace"}.
//
// The emulator, unlike Lambda, sends no X-Amz-Function-Error header, so an
// error is recognised by its shape: a JSON object with string errorMessage
// and errorType and no keys but those, stackTrace and requestId. A function
// that returns such an object on success is indistinguishable from one that
// failed, here as for any client of the emulator.
type FunctionError struct {
	// Type is errorType: for a Go function, the error's type name
	// ("errorString", "*fs.PathError") or "Runtime.*" for runtime failures.
	Type string `json:"errorType"`
	// Message is errorMessage, the error's text.
	Message string `json:"errorMessage"`
	// StackTrace is stackTrace as sent (absent for plain errors), kept raw
	// because its shape differs between runtimes.
	StackTrace json.RawMessage `json:"stackTrace,omitempty"`
}

// Error returns the function's error type and message.
func (e *FunctionError) Error() string {
	return fmt.Sprintf("lambda function error: %s: %s", e.Type, e.Message)
}

// StatusError is a non-2xx answer from the emulator: the invocation did not
// complete (the runtime failed to start or crashed, the emulator was busy).
type StatusError struct {
	// StatusCode is the emulator's HTTP status.
	StatusCode int
	// Body is the response body, often empty.
	Body []byte
}

// Error returns the status and, if any, the body.
func (e *StatusError) Error() string {
	msg := fmt.Sprintf("lambdarie: emulator answered %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if len(e.Body) > 0 {
		msg += ": " + string(e.Body)
	}
	return msg
}

// functionErrorKeys are the keys a Lambda error object may have.
var functionErrorKeys = map[string]bool{
	"errorMessage": true, "errorType": true, "stackTrace": true, "requestId": true,
}

func parseFunctionError(body []byte) *FunctionError {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &fields); err != nil {
		return nil //nolint:nilerr // not a JSON object: a result, not an error payload
	}
	for k := range fields {
		if !functionErrorKeys[k] {
			return nil
		}
	}
	var fe FunctionError
	var msg, typ *string
	if json.Unmarshal(fields["errorMessage"], &msg) != nil || json.Unmarshal(fields["errorType"], &typ) != nil ||
		msg == nil || typ == nil {
		return nil //nolint:nilerr // not the error shape: a result, not an error payload
	}
	fe.Message, fe.Type, fe.StackTrace = *msg, *typ, fields["stackTrace"]
	return &fe
}

// portError marks a start that failed because a port was taken, worth
// retrying with fresh ports.
type portError struct{ err error }

func (e *portError) Error() string { return e.err.Error() }
func (e *portError) Unwrap() error { return e.err }

// launch starts one emulator process and waits for it to answer.
func launch(rie, bootstrap string, environ []string) (*Function, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, err
	}
	api := fmt.Sprintf("127.0.0.1:%d", ports[0])
	runtimeAPI := fmt.Sprintf("127.0.0.1:%d", ports[1])

	logs := &logBuffer{}
	// The runtime API address must be set too: its default, 127.0.0.1:9001,
	// would collide between functions running side by side.
	cmd := exec.Command(rie,
		"--runtime-interface-emulator-address", api,
		"--runtime-api-address", runtimeAPI,
		bootstrap)
	cmd.Dir = filepath.Dir(bootstrap) // the function's working directory, like /var/task
	cmd.Env = environ
	cmd.Stdout = logs
	cmd.Stderr = logs
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("exec %s: %w", rie, err)
	}
	f := &Function{
		endpoint: "http://" + api,
		client:   &http.Client{Transport: &http.Transport{}},
		log:      logs,
		cmd:      cmd,
		exited:   make(chan struct{}),
	}
	go func() {
		f.waitErr = cmd.Wait()
		close(f.exited)
	}()
	if err := f.awaitReady(); err != nil {
		f.stop()
		if strings.Contains(logs.String(), "address already in use") {
			return nil, &portError{err: err}
		}
		return nil, fmt.Errorf("%w; log:\n%s", err, logs.String())
	}
	return f, nil
}

// awaitReady polls the emulator until its HTTP server answers (any path
// but the invocation path answers 404 without starting the function).
func (f *Function) awaitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.endpoint+"/", nil)
		if err != nil {
			return fmt.Errorf("probe %s: %w", f.endpoint, err)
		}
		resp, err := f.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return nil
		}
		lastErr = err
		select {
		case <-f.exited:
			return fmt.Errorf("%s exited before answering: %w", rieName, f.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer on %s within %s: %w", rieName, f.endpoint, readyTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// stop asks the emulator to shut down (it kills the runtime first) and
// kills its process group if it has not exited in time.
func (f *Function) stop() {
	f.client.CloseIdleConnections()
	select {
	case <-f.exited:
		return
	default:
	}
	terminate(f.cmd.Process)
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-f.exited:
	case <-timer.C:
		kill(f.cmd.Process)
		<-f.exited
	}
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		// Held open until all are chosen, so the n ports differ.
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// buildEnv returns the function's environment: defaults, then env.
func buildEnv(env map[string]string) []string {
	vars := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":    "hourglass-test",
		"AWS_LAMBDA_FUNCTION_TIMEOUT": "30",
		"AWS_REGION":                  "us-east-1",
		"AWS_DEFAULT_REGION":          "us-east-1",
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"TZ":                          ":UTC",
	}
	if path, ok := os.LookupEnv("PATH"); ok {
		vars["PATH"] = path
	}
	for k, v := range env {
		vars[k] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// findRIE returns the emulator binary's path, or ends the test: Skip, or
// Fatal when EnvRequire is "1".
func findRIE(tb testing.TB) string {
	tb.Helper()
	var tried []string
	if p := os.Getenv(EnvRIE); p != "" {
		if isExecutable(p) {
			return p
		}
		tried = append(tried, p+" ($"+EnvRIE+")")
	} else {
		dir, err := os.Getwd()
		if err != nil {
			tb.Fatalf("lambdarie: working directory: %v", err)
		}
		// Every enclosing module root is a candidate, so that a nested
		// module (infra/) finds the main module's bin/.
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				p := filepath.Join(dir, "bin", rieName)
				if isExecutable(p) {
					return p
				}
				tried = append(tried, p)
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	msg := fmt.Sprintf("lambdarie: %s not found (looked at %s): run scripts/tools.sh", rieName, strings.Join(tried, ", "))
	if len(tried) == 0 {
		msg = fmt.Sprintf("lambdarie: %s not found (no go.mod above the working directory): run scripts/tools.sh or set $%s", rieName, EnvRIE)
	}
	if os.Getenv(EnvRequire) == "1" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
	return ""
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// logBuffer collects the emulator's output from its two pipes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

package awstest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeWorld is the outside world a resolver sees, recorded for assertions.
type fakeWorld struct {
	env        map[string]string
	answering  map[string]Backend // endpoint → backend that answers there
	docker     error
	localstack error
	// what the resolver did
	probed          []string
	dockerAsked     bool
	localStackAsked bool
}

func (w *fakeWorld) resolver() resolver {
	return resolver{
		getenv: func(k string) string { return w.env[k] },
		probe: func(_ context.Context, ep string) (Backend, error) {
			w.probed = append(w.probed, ep)
			if b, ok := w.answering[ep]; ok {
				return b, nil
			}
			return "", errors.New("connection refused")
		},
		dockerHealthy: func(context.Context) error {
			w.dockerAsked = true
			return w.docker
		},
		startLocalStack: func(context.Context) (string, error) {
			w.localStackAsked = true
			if w.localstack != nil {
				return "", w.localstack
			}
			return "http://127.0.0.1:32768", nil
		},
	}
}

func TestResolveOrder(t *testing.T) {
	t.Parallel()
	noDocker := errors.New("cannot connect to the Docker daemon")

	tests := []struct {
		name  string
		world fakeWorld
		want  target
		// wantErr, when set, is a substring of the error; want is ignored.
		wantErr         string
		wantDockerAsked bool
	}{
		{
			name: "AWS_ENDPOINT_URL wins, Docker not consulted",
			world: fakeWorld{
				env:       map[string]string{envEndpoint: "http://127.0.0.1:4567/"},
				answering: map[string]Backend{"http://127.0.0.1:4567": Moto, "http://127.0.0.1:4566": Moto},
			},
			want: target{Endpoint: "http://127.0.0.1:4567", Backend: Moto},
		},
		{
			name: "AWS_ENDPOINT_URL backend is probed, not assumed",
			world: fakeWorld{
				env:       map[string]string{envEndpoint: "http://localhost:4566"},
				answering: map[string]Backend{"http://localhost:4566": LocalStack},
			},
			want: target{Endpoint: "http://localhost:4566", Backend: LocalStack},
		},
		{
			name: "AWS_ENDPOINT_URL that does not answer is an error, not a fallback",
			world: fakeWorld{
				env:       map[string]string{envEndpoint: "http://127.0.0.1:9"},
				answering: map[string]Backend{"http://127.0.0.1:4566": Moto},
			},
			wantErr: "AWS_ENDPOINT_URL=http://127.0.0.1:9",
		},
		{
			name:            "Docker answers: LocalStack",
			world:           fakeWorld{answering: map[string]Backend{"http://127.0.0.1:4566": Moto}},
			want:            target{Endpoint: "http://127.0.0.1:32768", Backend: LocalStack},
			wantDockerAsked: true,
		},
		{
			name: "LocalStack fails to start: moto",
			world: fakeWorld{
				localstack: errors.New("pull access denied"),
				answering:  map[string]Backend{"http://127.0.0.1:4566": Moto},
			},
			want:            target{Endpoint: "http://127.0.0.1:4566", Backend: Moto},
			wantDockerAsked: true,
		},
		{
			name: "no Docker: moto on the default port",
			world: fakeWorld{
				docker:    noDocker,
				answering: map[string]Backend{"http://127.0.0.1:4566": Moto},
			},
			want:            target{Endpoint: "http://127.0.0.1:4566", Backend: Moto},
			wantDockerAsked: true,
		},
		{
			name: "no Docker: moto where the script's variables put it",
			world: fakeWorld{
				env:       map[string]string{envHost: "::1", envPort: "4570"},
				docker:    noDocker,
				answering: map[string]Backend{"http://[::1]:4570": Moto},
			},
			want:            target{Endpoint: "http://[::1]:4570", Backend: Moto},
			wantDockerAsked: true,
		},
		{
			name:            "nothing answers: an error naming every reason",
			world:           fakeWorld{docker: noDocker},
			wantErr:         "no Docker engine for LocalStack (cannot connect to the Docker daemon); no emulator at http://127.0.0.1:4566",
			wantDockerAsked: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := tc.world
			got, err := w.resolver().resolve(context.Background())
			if tc.wantErr != "" {
				if !errors.Is(err, errNoEmulator) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("resolve() error = %v, want errNoEmulator containing %q", err, tc.wantErr)
				}
			} else if err != nil || got != tc.want {
				t.Fatalf("resolve() = %+v, %v; want %+v", got, err, tc.want)
			}
			if w.dockerAsked != tc.wantDockerAsked {
				t.Errorf("Docker consulted = %v, want %v", w.dockerAsked, tc.wantDockerAsked)
			}
			if w.localStackAsked && w.docker != nil {
				t.Errorf("LocalStack started although Docker is unhealthy")
			}
		})
	}
}

func TestRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{env: nil, want: false},
		{env: map[string]string{envRequire: "1"}, want: true},
		{env: map[string]string{envRequire: "true"}, want: true},
		{env: map[string]string{"CI": "true"}, want: true},
		{env: map[string]string{"CI": "1"}, want: true},
		{env: map[string]string{"CI": "true", envRequire: "0"}, want: false},
		{env: map[string]string{"CI": "false"}, want: false},
	}
	for _, tc := range tests {
		if got := required(func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("required(%v) = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// recordingTB captures how unavailable ends a test. Skipf and Fatalf stop the
// calling goroutine as the real ones do, so run it in its own goroutine.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUnavailable(t *testing.T) {
	t.Parallel()
	run := func(env map[string]string) *recordingTB {
		rec := &recordingTB{TB: t}
		var wg sync.WaitGroup
		wg.Go(func() {
			unavailable(rec, func(k string) string { return env[k] }, fmt.Errorf("%w: nothing here", errNoEmulator))
		})
		wg.Wait()
		return rec
	}

	skip := run(nil)
	if !skip.skipped || skip.failed {
		t.Errorf("without %s: skipped=%v failed=%v, want a skip", envRequire, skip.skipped, skip.failed)
	}
	fail := run(map[string]string{envRequire: "1"})
	if !fail.failed || fail.skipped {
		t.Errorf("with %s=1: skipped=%v failed=%v, want a failure", envRequire, fail.skipped, fail.failed)
	}
	for _, r := range []*recordingTB{skip, fail} {
		if !strings.Contains(r.msg, "scripts/emulator.sh start") || !strings.Contains(r.msg, "nothing here") {
			t.Errorf("message %q should say why and how to start the emulator", r.msg)
		}
	}
}

func TestProbeHTTP(t *testing.T) {
	t.Parallel()
	serve := func(path string) string {
		mux := http.NewServeMux()
		if path != "" {
			mux.HandleFunc(path, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
		}
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		return srv.URL
	}

	for _, tc := range []struct {
		path string
		want Backend
	}{
		{"/moto-api/", Moto},
		{"/_localstack/health", LocalStack},
		{"", Other},
	} {
		ep := serve(tc.path)
		got, err := probeHTTP(context.Background(), ep)
		if err != nil || got != tc.want {
			t.Errorf("probeHTTP(server answering %q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	if b, err := probeHTTP(context.Background(), closed.URL); err == nil {
		t.Errorf("probeHTTP(closed server) = %q, nil; want an error", b)
	}
}

func TestNamePrefix(t *testing.T) {
	t.Parallel()
	if got := (&Env{}).Name("tasks"); got != "tasks" {
		t.Errorf("Name on moto = %q, want the base name", got)
	}
	p := newPrefix()
	if len(p) != 11 || !strings.HasPrefix(p, "hg") || !strings.HasSuffix(p, "-") {
		t.Errorf("newPrefix() = %q, want hg + 8 hex digits + -", p)
	}
	if got := (&Env{Prefix: p}).Name("tasks"); got != p+"tasks" {
		t.Errorf("Name with prefix = %q, want %q", got, p+"tasks")
	}
	if newPrefix() == p {
		t.Errorf("two prefixes are equal")
	}
}

func TestNewAccountID(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for range 1000 {
		id := newAccountID()
		if len(id) != 12 || strings.Trim(id, "0123456789") != "" || id == "123456789012" {
			t.Fatalf("newAccountID() = %q, want 12 digits, not moto's default", id)
		}
		if seen[id] {
			t.Fatalf("newAccountID() repeated %q", id)
		}
		seen[id] = true
	}
}

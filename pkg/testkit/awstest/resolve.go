package awstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// Backend names the kind of emulator an endpoint belongs to.
type Backend string

// The backends New can isolate tests on.
const (
	// Moto is moto's standalone server; tests are isolated by account.
	Moto Backend = "moto"
	// LocalStack is a LocalStack container; tests are isolated by name prefix.
	LocalStack Backend = "localstack"
	// Other is any other endpoint named by AWS_ENDPOINT_URL; tests are
	// isolated by name prefix.
	Other Backend = "other"
)

// Environment variables read by this package, besides the SDK's own.
const (
	envEndpoint        = "AWS_ENDPOINT_URL"
	envRequire         = "HOURGLASS_REQUIRE_EMULATOR"
	envHost            = "HOURGLASS_EMULATOR_HOST"
	envPort            = "HOURGLASS_EMULATOR_PORT"
	envLocalStackImage = "HOURGLASS_LOCALSTACK_IMAGE"
)

const startHint = "start moto with `scripts/emulator.sh start` (or set AWS_ENDPOINT_URL to a running emulator, or start a Docker engine for LocalStack)"

// target is where the emulator is and what it is.
type target struct {
	Endpoint string
	Backend  Backend
}

// resolver finds the emulator. Its fields are the outside world, so that the
// order of choices can be tested without Docker or a network.
type resolver struct {
	getenv func(string) string
	// probe reports which backend answers at endpoint, or an error when
	// nothing usable does.
	probe func(ctx context.Context, endpoint string) (Backend, error)
	// dockerHealthy returns nil when a Docker engine answers.
	dockerHealthy func(ctx context.Context) error
	// startLocalStack starts LocalStack and returns its endpoint.
	startLocalStack func(ctx context.Context) (string, error)
}

// errNoEmulator is wrapped by resolve when no emulator answers.
var errNoEmulator = errors.New("no AWS API emulator answers")

// resolve picks the emulator: AWS_ENDPOINT_URL, else LocalStack when Docker
// answers, else moto on its default port.
func (r resolver) resolve(ctx context.Context) (target, error) {
	if ep := strings.TrimRight(r.getenv(envEndpoint), "/"); ep != "" {
		b, err := r.probe(ctx, ep)
		if err != nil {
			return target{}, fmt.Errorf("%w: %s=%s: %w", errNoEmulator, envEndpoint, ep, err)
		}
		return target{Endpoint: ep, Backend: b}, nil
	}

	var reasons []string
	if err := r.dockerHealthy(ctx); err != nil {
		reasons = append(reasons, fmt.Sprintf("no Docker engine for LocalStack (%v)", err))
	} else {
		ep, err := r.startLocalStack(ctx)
		if err == nil {
			return target{Endpoint: ep, Backend: LocalStack}, nil
		}
		// A Docker engine that cannot run LocalStack (no network to pull the
		// image, an image that wants a licence) should not hide a running moto.
		reasons = append(reasons, fmt.Sprintf("LocalStack did not start (%v)", err))
	}

	ep := motoEndpoint(r.getenv)
	b, err := r.probe(ctx, ep)
	if err == nil {
		return target{Endpoint: ep, Backend: b}, nil
	}
	reasons = append(reasons, fmt.Sprintf("no emulator at %s (%v)", ep, err))
	return target{}, fmt.Errorf("%w: %s", errNoEmulator, strings.Join(reasons, "; "))
}

// motoEndpoint is where scripts/emulator.sh starts moto, from the same
// variables the script reads.
func motoEndpoint(getenv func(string) string) string {
	host, port := getenv(envHost), getenv(envPort)
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "4566"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// required reports whether a missing emulator fails the test instead of
// skipping it: HOURGLASS_REQUIRE_EMULATOR when set, else whether CI is set.
func required(getenv func(string) string) bool {
	switch strings.ToLower(getenv(envRequire)) {
	case "1", "true", "yes":
		return true
	case "0", "false", "no":
		return false
	}
	switch strings.ToLower(getenv("CI")) {
	case "1", "true":
		return true
	}
	return false
}

// probeHTTP tells moto from LocalStack from anything else that answers HTTP.
// moto serves its dashboard at /moto-api/, LocalStack its health at
// /_localstack/health; an endpoint that answers neither is Other.
func probeHTTP(ctx context.Context, endpoint string) (Backend, error) {
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true},
	}
	get := func(path string) (int, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+path, nil)
		if err != nil {
			return 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_ = resp.Body.Close()
		return resp.StatusCode, nil
	}
	code, err := get("/moto-api/")
	if err != nil {
		return "", err
	}
	if code == http.StatusOK {
		return Moto, nil
	}
	if code, err := get("/_localstack/health"); err == nil && code == http.StatusOK {
		return LocalStack, nil
	}
	return Other, nil
}

// realResolver is the resolver for this process's environment.
func realResolver() resolver {
	return resolver{
		getenv:          os.Getenv,
		probe:           probeHTTP,
		dockerHealthy:   dockerHealthy,
		startLocalStack: startLocalStack,
	}
}

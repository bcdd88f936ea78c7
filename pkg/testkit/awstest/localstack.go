package awstest

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/localstack"
)

// defaultLocalStackImage is pinned so that a test run does not change under
// us when LocalStack publishes; HOURGLASS_LOCALSTACK_IMAGE overrides it.
const defaultLocalStackImage = "localstack/localstack:4.4"

// dockerHealthy reports whether testcontainers can reach a Docker engine. It
// is testcontainers.SkipIfProviderIsNotHealthy without the skip: the caller
// falls back to moto instead. It recovers because testcontainers panics on
// some setups without Docker, and localstack.Run would panic outright.
func dockerHealthy(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers panicked: %v", r)
		}
	}()
	provider, err := testcontainers.ProviderDefault.GetProvider()
	if err != nil {
		return err
	}
	defer func() { _ = provider.Close() }()
	return provider.Health(ctx)
}

// startLocalStack starts a LocalStack container for the rest of the process
// and returns its endpoint. Nothing terminates it here: several tests share
// it, and testcontainers' reaper removes it when the process exits.
func startLocalStack(ctx context.Context) (endpoint string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("localstack.Run panicked: %v", r)
		}
	}()
	img := os.Getenv(envLocalStackImage)
	if img == "" {
		img = defaultLocalStackImage
	}
	// No SERVICES list: LocalStack loads each service on first use.
	env := map[string]string{}
	if tok := os.Getenv("LOCALSTACK_AUTH_TOKEN"); tok != "" {
		env["LOCALSTACK_AUTH_TOKEN"] = tok
	}
	ctr, err := localstack.Run(ctx, img, testcontainers.WithEnv(env))
	if err != nil {
		if ctr != nil {
			err = errors.Join(err, testcontainers.TerminateContainer(ctr))
		}
		return "", fmt.Errorf("run %s: %w", img, err)
	}
	endpoint, err = ctr.PortEndpoint(ctx, "4566/tcp", "http")
	if err != nil {
		return "", errors.Join(fmt.Errorf("read LocalStack's endpoint: %w", err), testcontainers.TerminateContainer(ctr))
	}
	return endpoint, nil
}

// Package awstest connects integration tests to a real AWS API emulator and
// gives every test its own isolated corner of it.
//
// A test starts with
//
//	env := awstest.New(t)
//	db := dynamodb.NewFromConfig(env.Config)
//	table := env.Name("tasks")
//
// # Which emulator
//
// The endpoint is resolved once per test process, in this order:
//
//  1. AWS_ENDPOINT_URL, when set. It is used as is, never second-guessed: if it
//     does not answer, the test fails or skips rather than falling back.
//  2. LocalStack, started through testcontainers-go, when a Docker engine
//     answers. The container lives as long as the test process; testcontainers'
//     reaper (Ryuk) removes it afterwards. HOURGLASS_LOCALSTACK_IMAGE overrides
//     the image; LOCALSTACK_AUTH_TOKEN is passed through when set.
//  3. moto_server at http://$HOURGLASS_EMULATOR_HOST:$HOURGLASS_EMULATOR_PORT
//     (default http://127.0.0.1:4566), as started by scripts/emulator.sh.
//
// Per-service variables such as AWS_ENDPOINT_URL_DYNAMODB are left to the SDK,
// which prefers them over the base endpoint; that is how DynamoDB and SQS can
// run on two moto processes (scripts/emulator.sh start 4566 4567).
//
// When no emulator answers the test is skipped, unless the emulator is
// required: HOURGLASS_REQUIRE_EMULATOR=1 (or, when that variable is unset, CI
// set to true or 1) turns the skip into a failure, so CI never passes by
// skipping. HOURGLASS_REQUIRE_EMULATOR=0 turns the requirement off.
//
// # Isolation
//
// On moto every Env gets a fresh random 12-digit account ID, sent on every
// request in the x-moto-account-id header; moto keeps each account's resources
// apart, so tests use fixed names and run in parallel. Other backends ignore
// the header, so there Env.Name prefixes names with a unique per-Env string.
// Tests should always build resource names with Env.Name, so that they are
// isolated on every backend.
package awstest

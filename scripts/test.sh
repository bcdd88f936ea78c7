#!/usr/bin/env bash
# test.sh — `make test`: every test, with the race detector, against a moto
# emulator on 127.0.0.1:$TEST_EMULATOR_PORT (default 4567) that it starts and
# stops (installing moto into .venv-moto if moto_server is not on PATH). The
# emulator is required: a missing one fails the run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
port="${TEST_EMULATOR_PORT:-4567}"
export HOURGLASS_REQUIRE_EMULATOR=1
export HOURGLASS_EMULATOR_PORT="$port"
unset AWS_ENDPOINT_URL

started=0
if ! scripts/emulator.sh status "$port" >/dev/null 2>&1; then
	scripts/emulator.sh start "$port"
	started=1
fi
trap '[[ $started == 1 ]] && scripts/emulator.sh stop "$port" >/dev/null 2>&1 || true' EXIT

echo "test: go vet" >&2
go vet ./...
echo "test: go test -race ./... (emulator http://127.0.0.1:$port)" >&2
go test -race -count=1 -timeout 12m ./...
if [[ "${HOURGLASS_SKIP_INFRA:-0}" != 1 ]]; then
	echo "test: infra (CDK assertions, cdk-nag, cfn-lint)" >&2
	scripts/test-infra.sh
fi

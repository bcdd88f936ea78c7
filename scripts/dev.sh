#!/usr/bin/env bash
# dev.sh — `make dev`: start the AWS emulator (unless AWS_ENDPOINT_URL points
# elsewhere) as two processes, as the bench does: DynamoDB on
# 127.0.0.1:$HOURGLASS_DEV_DYNAMODB_PORT (default 4568) and SQS, EventBridge
# and the rest on 127.0.0.1:4566 — one process each uses both cores, and a
# long queue receive never waits behind DynamoDB's serialised requests. Then
# run every Hourglass function in one process with the API on HOURGLASS_ADDR
# (default 127.0.0.1:8080). Ctrl-C stops everything.
#
# With the AWS CLI, DynamoDB is then at --endpoint-url http://127.0.0.1:4568
# and everything else at http://127.0.0.1:4566.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ddb_port="${HOURGLASS_DEV_DYNAMODB_PORT:-4568}"
started=()
if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
	for port in 4566 "$ddb_port"; do
		if ! scripts/emulator.sh status "$port" >/dev/null 2>&1; then
			scripts/emulator.sh start "$port"
			started+=("$port")
		else
			echo "dev: reusing the emulator already on 127.0.0.1:$port and its state. If Hourglass last ran" >&2
			echo "dev: against it long ago, the scanner first catches up through every bucket since then" >&2
			echo "dev: (oldest first, 60 per tick); for a clean slate: scripts/emulator.sh stop 4566 $ddb_port" >&2
		fi
	done
	export AWS_ENDPOINT_URL="http://127.0.0.1:4566"
	export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$ddb_port"
fi
cleanup() {
	if [[ ${#started[@]} -gt 0 ]]; then
		scripts/emulator.sh stop "${started[@]}" || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p bin
go build -o bin/hourglass-local ./functions/local
echo "dev: API on http://${HOURGLASS_ADDR:-127.0.0.1:8080} (GET /healthz answers 200 when ready), console on http://${HOURGLASS_ADDR:-127.0.0.1:8080}/console (sign in with dev-acme); Ctrl-C stops everything" >&2
bin/hourglass-local &
pid=$!
wait "$pid"

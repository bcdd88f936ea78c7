#!/usr/bin/env bash
# dev.sh — `make dev`: start the AWS emulator on 127.0.0.1:4566 (unless
# AWS_ENDPOINT_URL points elsewhere), then run every Hourglass function in one
# process with the API on HOURGLASS_ADDR (default 127.0.0.1:8080). Ctrl-C
# stops both.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

started_emulator=0
if [[ -z "${AWS_ENDPOINT_URL:-}" ]]; then
	if ! scripts/emulator.sh status 4566 >/dev/null 2>&1; then
		scripts/emulator.sh start 4566
		started_emulator=1
	else
		echo "dev: reusing the emulator already on 127.0.0.1:4566 and its state. If Hourglass last ran" >&2
		echo "dev: against it long ago, the scanner first catches up through every bucket since then" >&2
		echo "dev: (oldest first, 60 per tick); for a clean slate: scripts/emulator.sh stop 4566" >&2
	fi
	export AWS_ENDPOINT_URL="http://127.0.0.1:4566"
fi
cleanup() {
	if [[ $started_emulator == 1 ]]; then
		scripts/emulator.sh stop 4566 || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p bin
go build -o bin/hourglass-local ./functions/local
echo "dev: API on http://${HOURGLASS_ADDR:-127.0.0.1:8080} (GET /healthz answers 200 when ready); Ctrl-C stops everything" >&2
bin/hourglass-local &
pid=$!
wait "$pid"

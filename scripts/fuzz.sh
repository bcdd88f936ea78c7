#!/usr/bin/env bash
# fuzz.sh [FUZZTIME] — run every Go fuzz target in the module for FUZZTIME
# (default 30s) each (FuzzCreateHandler needs the emulator: scripts/emulator.sh
# start). `go test` alone already runs each target's seed corpus
# (testdata/fuzz/...) as ordinary tests; this explores beyond it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fuzztime="${1:-30s}"
grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' pkg | sort | while read -r file; do
	dir="./$(dirname "$file")"
	grep -oE '^func Fuzz[A-Za-z0-9_]+' "$file" | sed 's/^func //' | while read -r target; do
		echo "fuzz: $dir $target ($fuzztime)" >&2
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime 3x "$dir"
	done
done

#!/usr/bin/env bash
# test-infra.sh — the CDK app's checks: Go assertions and cdk-nag tests, a
# synth with the real bootstrap binaries (make build), and cfn-lint on every
# synthesized template. Part of `make test`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20

cfn_lint="$(command -v cfn-lint || true)"
if [[ -z "$cfn_lint" ]]; then
	# Same project-local virtualenv the emulator script uses.
	if [[ ! -x .venv-moto/bin/cfn-lint ]]; then
		echo "test-infra: installing cfn-lint into .venv-moto" >&2
		python3 -m venv .venv-moto
		.venv-moto/bin/pip install --quiet 'cfn-lint>=1,<2' || {
			echo "test-infra: cfn-lint is not on PATH and pip could not install it (is the package index reachable?)" >&2
			exit 1
		}
	fi
	cfn_lint="$root/.venv-moto/bin/cfn-lint"
fi

# Synth with the real bootstrap binaries of every function.
echo "test-infra: make build (Lambda bootstraps)" >&2
make --no-print-directory build >/dev/null
cd infra
echo "test-infra: go vet + go test (CDK assertions, cdk-nag)" >&2
go vet ./...
go test -count=1 ./...
echo "test-infra: synth (default and ECS 'both' variants) + cfn-lint" >&2
rm -rf cdk.out
CDK_OUTDIR=cdk.out go run .
CDK_OUTDIR=cdk.out/both CDK_CONTEXT_JSON='{"workerMode":"both"}' go run .
# W3005 (a DependsOn that a GetAtt already implies) is emitted by CDK itself
# between every function and its role; errors and other warnings fail.
"$cfn_lint" --ignore-checks W3005 -- cdk.out/*.template.json cdk.out/both/*.template.json
echo "test-infra: ok" >&2

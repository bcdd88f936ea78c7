#!/usr/bin/env bash
# cdk.sh runs the AWS CDK CLI (2.x, pinned) for the Hourglass CDK app in infra/.
# It installs the CLI once into infra/.cdk (git-ignored) with npm, then runs it
# from infra/ with any arguments: scripts/cdk.sh synth, scripts/cdk.sh deploy,
# scripts/cdk.sh diff -c workerMode=both ...
# The aws-cdk 3.0.0 package is a deprecated placeholder: stay on 2.x.
set -euo pipefail

CDK_VERSION="2.1148.1"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix="$root/infra/.cdk"
cdk="$prefix/node_modules/.bin/cdk"

if [[ ! -x "$cdk" ]] || [[ "$("$cdk" --version 2>/dev/null | cut -d' ' -f1)" != "$CDK_VERSION" ]]; then
	echo "cdk.sh: installing aws-cdk@$CDK_VERSION into $prefix" >&2
	npm install --prefix "$prefix" --no-audit --no-fund --save-exact "aws-cdk@$CDK_VERSION" >&2
fi

export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}"
export CDK_DISABLE_CLI_TELEMETRY="${CDK_DISABLE_CLI_TELEMETRY:-true}"
cd "$root/infra"
exec "$cdk" "$@"

#!/usr/bin/env bash
# tools.sh — install the developer tools Hourglass's tests need into bin/ at
# the repository root (GOBIN), from the Go module proxy, at pinned versions.
#
# Usage: scripts/tools.sh
#
# Idempotent: a tool already in bin/ at its pinned version is left alone (the
# version is read from the binary's embedded build info with `go version -m`,
# so a binary from another version or another module is replaced). Prints
# what it did for each tool.
#
# Tools:
#   aws-lambda-rie   AWS Lambda Runtime Interface Emulator; pkg/testkit/lambdarie
#                    runs bootstrap binaries under it (or under $HOURGLASS_RIE)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly bin_dir="${root}/bin"

# install_go_tool NAME MODULE PACKAGE VERSION installs PACKAGE@VERSION (a
# package of MODULE) as bin/NAME unless bin/NAME was built from MODULE at
# VERSION.
install_go_tool() {
	local name="$1" module="$2" pkg="$3" version="$4"
	local target="${bin_dir}/${name}"
	if [[ -x "${target}" ]] &&
		go version -m "${target}" 2>/dev/null |
		awk -v m="${module}" -v v="${version}" '$1 == "mod" && $2 == m && $3 == v { found = 1 } END { exit !found }'; then
		echo "tools: ${name} ${version} already installed at bin/${name}"
		return
	fi
	echo "tools: installing ${name} ${version} into bin/${name} (go install ${pkg}@${version})"
	mkdir -p "${bin_dir}"
	# GOFLAGS is cleared so that a project setting such as -mod=vendor
	# cannot interfere with installing outside the module.
	GOBIN="${bin_dir}" GOFLAGS="" go install "${pkg}@${version}"
	# The RIE has no --version (unknown flags are taken as the bootstrap
	# command), so the build info is the check that the install worked.
	go version -m "${target}" | awk -v m="${module}" '$1 == "mod" && $2 == m { print "tools: installed " $2 " " $3 }'
}

install_go_tool aws-lambda-rie \
	github.com/aws/aws-lambda-runtime-interface-emulator \
	github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie \
	v0.0.0-20261030222936-bef5c4ba774d

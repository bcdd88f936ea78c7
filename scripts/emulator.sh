#!/usr/bin/env bash
# emulator.sh — start, stop and check the local AWS API emulator (moto_server)
# that Hourglass's integration tests and local host talk to.
#
# Usage: scripts/emulator.sh COMMAND [PORT...]
#
#   start     start moto_server in the background on each PORT unless something
#             already answers there; wait until healthy; print the endpoint
#   ensure    same as start (kept as its own verb for Makefiles: "make sure it runs")
#   run       run moto_server in the foreground on one PORT (Ctrl-C stops it);
#             exits at once if an emulator already answers there
#   stop      stop the moto_server this script started on each PORT; a server
#             started by anyone else is left alone
#   status    exit 0 if an emulator answers on every PORT, 1 otherwise
#   wait      poll each PORT until it answers, up to HOURGLASS_EMULATOR_WAIT seconds
#   endpoint  print the endpoint URL of each PORT (for AWS_ENDPOINT_URL)
#
# PORT defaults to $HOURGLASS_EMULATOR_PORT, else 4566. Give two ports
# (e.g. "start 4566 4567") to run DynamoDB and SQS/EventBridge on separate
# processes and use two cores; point the SDK at them with AWS_ENDPOINT_URL and
# AWS_ENDPOINT_URL_DYNAMODB.
#
# Environment:
#   HOURGLASS_EMULATOR_HOST  address to bind and probe (default 127.0.0.1)
#   HOURGLASS_EMULATOR_PORT  default port (default 4566)
#   HOURGLASS_EMULATOR_WAIT  seconds to wait for health (default 30)
#   HOURGLASS_MOTO_PYTHON    a Python that imports moto, to use instead of searching
#
# The server is scripts/motoserver.py: moto's own, with DynamoDB requests
# serialised so that conditional writes are atomic and transactions isolated,
# as in DynamoDB. It runs under the Python of the moto_server on PATH, or
# python3, whichever imports moto; otherwise the script creates .venv-moto/ at
# the repository root and installs the pinned moto[server] into it with pip.
# Logs and pid files live in .run/ at the repository root.
set -euo pipefail

readonly MOTO_VERSION="5.2.1"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly root
readonly run_dir="${root}/.run"
readonly venv_dir="${root}/.venv-moto"
readonly host="${HOURGLASS_EMULATOR_HOST:-127.0.0.1}"
readonly default_port="${HOURGLASS_EMULATOR_PORT:-4566}"
readonly wait_seconds="${HOURGLASS_EMULATOR_WAIT:-30}"

log() { printf 'emulator: %s\n' "$*" >&2; }
die() {
	log "$*"
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}

endpoint() { printf 'http://%s:%s' "${host}" "$1"; }
pid_file() { printf '%s/moto-%s.pid' "${run_dir}" "$1"; }
log_file() { printf '%s/moto-%s.log' "${run_dir}" "$1"; }

# healthy PORT: the emulator on PORT answers its health URL with HTTP 200.
# moto serves its dashboard at /moto-api/; nothing else answers 200 there.
healthy() {
	local url code
	url="$(endpoint "$1")/moto-api/"
	if command -v curl >/dev/null 2>&1; then
		code="$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "${url}" 2>/dev/null || true)"
	else
		code="$(python3 - "${url}" <<-'EOF' 2>/dev/null || true
			import sys, urllib.request
			try:
			    print(urllib.request.urlopen(sys.argv[1], timeout=2).status)
			except Exception as e:
			    print(getattr(e, "code", 0))
		EOF
		)"
	fi
	[[ "${code}" == "200" ]]
}

# listening PORT: something accepts TCP connections on PORT.
listening() {
	(exec 3<>"/dev/tcp/${host}/$1") 2>/dev/null
}

# our_pid PORT: print the pid of the moto_server this script started on PORT,
# if it is still that process (guards against a recycled pid).
our_pid() {
	local file pid args
	file="$(pid_file "$1")"
	[[ -f "${file}" ]] || return 1
	pid="$(<"${file}")"
	[[ "${pid}" =~ ^[0-9]+$ ]] || return 1
	args="$(ps -o args= -p "${pid}" 2>/dev/null || true)"
	[[ "${args}" == *motoserver.py* && ("${args}" == *" -p $1" || "${args}" == *" -p $1 "*) ]] || return 1
	printf '%s' "${pid}"
}

# wait_healthy PORT [PID]: poll until PORT answers or the deadline passes.
# With PID, give up early when that process dies.
wait_healthy() {
	local port="$1" pid="${2:-}" deadline=$((SECONDS + wait_seconds))
	while ! healthy "${port}"; do
		if [[ -n "${pid}" ]] && ! kill -0 "${pid}" 2>/dev/null; then
			log "moto_server (pid ${pid}) exited before becoming healthy; last lines of $(log_file "${port}"):"
			tail -n 20 "$(log_file "${port}")" >&2 || true
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "no healthy emulator at $(endpoint "${port}") after ${wait_seconds}s"
			return 1
		fi
		sleep 0.2
	done
}

# moto_python: print the path of a Python interpreter that can import moto's
# server, installing moto into .venv-moto/ when none can. The emulator is
# scripts/motoserver.py run by that interpreter: moto's own server with
# DynamoDB requests serialised (see that file for why).
moto_python() {
	local candidate shebang server
	local candidates=("${HOURGLASS_MOTO_PYTHON:-}")
	# The interpreter behind a moto_server on PATH (pip, pipx), then python3.
	if server="$(command -v moto_server 2>/dev/null)" && [[ -n "${server}" ]]; then
		shebang="$(head -n 1 "${server}" 2>/dev/null || true)"
		[[ "${shebang}" == '#!'*python* ]] && candidates+=("${shebang#\#!}")
	fi
	candidates+=("$(command -v python3 2>/dev/null || true)" "${venv_dir}/bin/python")
	for candidate in "${candidates[@]}"; do
		if [[ -n "${candidate}" && -x "${candidate%% *}" ]] && ${candidate} -c 'import moto.server, werkzeug' >/dev/null 2>&1; then
			printf '%s' "${candidate}"
			return 0
		fi
	done
	[[ -z "${HOURGLASS_MOTO_PYTHON:-}" ]] || die "HOURGLASS_MOTO_PYTHON=${HOURGLASS_MOTO_PYTHON} cannot import moto.server"
	install_moto
	printf '%s' "${venv_dir}/bin/python"
}

install_moto() {
	command -v python3 >/dev/null 2>&1 || die "moto_server is not on PATH and python3 is missing; install Python 3, then rerun"
	if [[ ! -x "${venv_dir}/bin/pip" ]]; then
		log "moto_server not found; creating ${venv_dir}"
		python3 -m venv "${venv_dir}" >&2 ||
			die "python3 -m venv failed (on Debian/Ubuntu: apt-get install python3-venv); or put moto_server ${MOTO_VERSION} on PATH"
	fi
	log "installing moto[server]==${MOTO_VERSION} into ${venv_dir}"
	if ! "${venv_dir}/bin/pip" install --disable-pip-version-check --quiet \
		--timeout 20 --retries 2 "moto[server]==${MOTO_VERSION}" >&2; then
		die "pip could not install moto[server]==${MOTO_VERSION} (is the package index reachable? check network, proxy or PIP_INDEX_URL); or put moto_server on PATH, or set AWS_ENDPOINT_URL to a running emulator"
	fi
	"${venv_dir}/bin/python" -c 'import moto.server, werkzeug' >/dev/null 2>&1 || die "moto installed into ${venv_dir} does not import"
}

check_port() {
	[[ "$1" =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)) || die "invalid port: $1"
}

warn_host() {
	case "${host}" in
	127.* | localhost | ::1) ;;
	*) log "warning: binding ${host}, not loopback: anyone who reaches this address can use the emulator" ;;
	esac
}

cmd_start() {
	local port="$1" pid python lock
	check_port "${port}"
	mkdir -p "${run_dir}"
	# Serialise concurrent starts on one port (two `make test` runs at once).
	if command -v flock >/dev/null 2>&1; then
		lock="${run_dir}/moto-${port}.lock"
		exec 9>"${lock}"
		flock -w "$((wait_seconds + 5))" 9 || die "timed out waiting for the lock ${lock}"
	fi
	if healthy "${port}"; then
		if pid="$(our_pid "${port}")"; then
			log "already running (pid ${pid}, started by this script)"
		else
			log "already running (not started by this script; it will be left alone)"
		fi
		endpoint "${port}"
		echo
		return 0
	fi
	if pid="$(our_pid "${port}")"; then
		# Ours but not answering yet: maybe another start is still waiting on it.
		log "waiting for moto_server (pid ${pid}) on port ${port}"
		wait_healthy "${port}" "${pid}" || exit 1
		endpoint "${port}"
		echo
		return 0
	fi
	if listening "${port}"; then
		die "port ${port} on ${host} is taken by something that is not moto; choose another with HOURGLASS_EMULATOR_PORT"
	fi
	python="$(moto_python)" || exit 1
	warn_host
	: >"$(log_file "${port}")"
	# setsid puts the server in its own session, so a Ctrl-C aimed at the
	# command that started it (make, go test) does not take it down. In a
	# script the background child is never a group leader, so setsid execs
	# without forking and $! stays the server's pid.
	local launcher=()
	command -v setsid >/dev/null 2>&1 && launcher=(setsid)
	# A simple command (not a function) so the background child execs it and
	# $! is the server's own pid. MOTO_ACCOUNT_ID would take precedence over
	# the x-moto-account-id header and break per-test account isolation.
	# shellcheck disable=SC2086 # HOURGLASS_MOTO_PYTHON may carry arguments
	env -u MOTO_ACCOUNT_ID nohup "${launcher[@]}" ${python} "${root}/scripts/motoserver.py" -H "${host}" -p "${port}" \
		</dev/null >>"$(log_file "${port}")" 2>&1 9>&- &
	pid=$!
	printf '%s\n' "${pid}" >"$(pid_file "${port}")"
	log "started moto_server (pid ${pid}) on ${host}:${port}; log $(log_file "${port}")"
	if ! wait_healthy "${port}" "${pid}"; then
		kill "${pid}" 2>/dev/null || true
		rm -f "$(pid_file "${port}")"
		exit 1
	fi
	our_pid "${port}" >/dev/null ||
		log "warning: pid ${pid} is not the moto_server process; 'stop' will not be able to stop it"
	endpoint "${port}"
	echo
}

cmd_stop() {
	local port="$1" pid i
	check_port "${port}"
	if ! pid="$(our_pid "${port}")"; then
		rm -f "$(pid_file "${port}")"
		if healthy "${port}"; then
			log "the emulator on port ${port} was not started by this script; leaving it alone"
		else
			log "not running on port ${port}"
		fi
		return 0
	fi
	kill -TERM "${pid}" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "${pid}" 2>/dev/null || break
		sleep 0.2
	done
	if kill -0 "${pid}" 2>/dev/null; then
		log "moto_server (pid ${pid}) ignored SIGTERM for 10s; sending SIGKILL"
		kill -KILL "${pid}" 2>/dev/null || true
	fi
	rm -f "$(pid_file "${port}")"
	log "stopped moto_server (pid ${pid}) on port ${port}"
}

cmd_status() {
	local port="$1" pid
	check_port "${port}"
	if healthy "${port}"; then
		if pid="$(our_pid "${port}")"; then
			log "healthy at $(endpoint "${port}") (pid ${pid}, started by this script)"
		else
			log "healthy at $(endpoint "${port}") (not started by this script)"
		fi
		return 0
	fi
	log "no healthy emulator at $(endpoint "${port}")"
	return 1
}

cmd_run() {
	local port="$1" python
	check_port "${port}"
	if healthy "${port}"; then
		log "an emulator already answers at $(endpoint "${port}"); not starting another"
		return 0
	fi
	listening "${port}" && die "port ${port} on ${host} is taken by something that is not moto"
	python="$(moto_python)" || exit 1
	warn_host
	log "running moto on ${host}:${port} in the foreground (Ctrl-C to stop)"
	# shellcheck disable=SC2086 # HOURGLASS_MOTO_PYTHON may carry arguments
	exec env -u MOTO_ACCOUNT_ID ${python} "${root}/scripts/motoserver.py" -H "${host}" -p "${port}"
}

main() {
	(($# >= 1)) || usage
	local cmd="$1" port rc=0
	shift
	local ports=("$@")
	((${#ports[@]} > 0)) || ports=("${default_port}")
	case "${cmd}" in
	# Plain calls, not `cmd || rc=1`: inside a || list bash ignores set -e in
	# the called function, and a failed step would carry on.
	start | ensure) for port in "${ports[@]}"; do cmd_start "${port}"; done ;;
	stop) for port in "${ports[@]}"; do cmd_stop "${port}"; done ;;
	status) for port in "${ports[@]}"; do cmd_status "${port}" || rc=1; done ;;
	wait) for port in "${ports[@]}"; do check_port "${port}" && wait_healthy "${port}" || rc=1; done ;;
	endpoint) for port in "${ports[@]}"; do check_port "${port}" && endpoint "${port}" && echo; done ;;
	run)
		((${#ports[@]} == 1)) || die "run takes one port"
		cmd_run "${ports[0]}"
		;;
	-h | --help | help) usage 0 ;;
	*)
		log "unknown command: ${cmd}"
		usage
		;;
	esac
	return "${rc}"
}

main "$@"

# Shared by tests/cluster/{build,up,down}: versions, paths, pid files, bounded waits.
# Sourced, not run.
# shellcheck shell=bash
# Variables here are used by the scripts that source this file.
# shellcheck disable=SC2034

K8S_VERSION=${ZENTOO_TEST_K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ZENTOO_TEST_ETCD_VERSION:-v3.7.3}
KWOK_VERSION=${ZENTOO_TEST_KWOK_VERSION:-v0.8.0}

CACHE=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}
BIN_K8S=$CACHE/bin/k8s-$K8S_VERSION
BIN_ETCD=$CACHE/bin/etcd-$ETCD_VERSION
BIN_KWOK=$CACHE/bin/kwok-$KWOK_VERSION
BIN_PAUSE=$CACHE/bin/pause-$(cat "$(dirname "${BASH_SOURCE[0]}")"/pause/{main.go,go.mod} | sha256sum | cut -c1-12)
RUN=$CACHE/run
PIDS=$RUN/pids
LOGS=$RUN/logs
PKI=$RUN/pki
ENV_FILE=$CACHE/env

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Go: builds use their own module and build caches under $CACHE/go, trimmed paths, small binaries.
go_env() {
	export GOMODCACHE=$CACHE/go/mod
	export GOCACHE=$CACHE/go/build
	export GOFLAGS="-trimpath -modcacherw"
	export GOTOOLCHAIN=${GOTOOLCHAIN:-local}
	export CGO_ENABLED=0
	if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
		export PATH=/usr/local/go/bin:$PATH
	fi
	command -v go >/dev/null 2>&1 || die "go not found (scripts/setup.sh ensure_go installs it)"
}

# running PID: true while PID is a process that has not exited (an exited one may stay a zombie
# until init reaps it, which can take seconds).
running() {
	local state
	state=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# pid_alive NAME BINARY: true when $PIDS/NAME.pid names a live process running BINARY.
# The binary check keeps a recycled pid from being taken for ours.
pid_alive() {
	local f=$PIDS/$1.pid pid exe
	[ -s "$f" ] || return 1
	pid=$(cat "$f")
	running "$pid" || return 1
	exe=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -d' ' -f1)
	[ "$exe" = "$2" ]
}

# stop_pid NAME BINARY: stops the process of $PIDS/NAME.pid (TERM, then KILL after 10 s) if it
# is still the one we started, and removes the pid file.
stop_pid() {
	local name=$1 pid i
	if pid_alive "$name" "$2"; then
		pid=$(cat "$PIDS/$name.pid")
		kill "$pid" 2>/dev/null || true
		for i in $(seq 1 100); do
			running "$pid" || break
			[ "$i" -eq 100 ] && { log "$name ($pid) ignored TERM; KILL"; kill -9 "$pid" 2>/dev/null || true; }
			sleep 0.1
		done
		log "stopped $name ($pid)"
	fi
	rm -f "$PIDS/$name.pid"
}

# start_bg NAME BINARY ARGS...: starts a daemon in its own session, logs to $LOGS/NAME.log.
start_bg() {
	local name=$1
	shift
	mkdir -p "$PIDS" "$LOGS"
	# 9>&-: the daemon must not inherit (and so hold) the lock of tests/cluster/up;
	# cd /: nor the caller's directory (podman's conmon fails once that is removed)
	(cd / && exec setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&-) &
	echo $! >"$PIDS/$name.pid"
	log "started $name (pid $!, log $LOGS/$name.log)"
}

# wait_for SECONDS WHAT COMMAND...: runs COMMAND every 0.2 s until it succeeds or time runs out.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${secs}s waiting for $what"; return 1; }
		sleep 0.2
	done
}

# free_port: a TCP port on 127.0.0.1 nobody listens on (random in 20000-32767).
free_port() {
	local p i
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % 12768))
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

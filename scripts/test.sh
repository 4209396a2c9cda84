#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests and tests against real servers.
# Installs what is missing first, and brings the test harness (tests/cluster/up: a Kubernetes
# control plane with KWOK nodes, Podman's API, two registries) up before the tests and down
# after, unless it was already up. Usage: bash scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_rust
ensure_go
ensure_helm    # charts/zentoo lint and the manifests/ freshness test
# Everything the tests install, installed now: tests run in parallel and must never run apt
# themselves (two of them once raced for apt's lock installing musl-tools).
ensure_musl    # tests/it/zentoo_image.rs builds the static zentoo image
ensure_apt ca-certificates openssl
ensure_apt chromium-headless-shell    # tests/it/dashboard.rs renders the dashboard in it
ensure_stage3_tools

background=()
harness_down=0
env_file=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env
if [ -s "$env_file" ]; then
    echo "test: the harness was up already; leaving it up" >&2
else
    harness_down=1
fi
on_exit() {
    # Each background build leads its own process group (setsid): stop it with its children.
    for pid in "${background[@]}"; do
        kill -- "-$pid" 2>/dev/null || true
    done
    if ((harness_down)); then tests/cluster/down; fi
}
trap on_exit EXIT
tests/cluster/up
# shellcheck source=/dev/null
source "$env_file"

# The test stage3 (cached by content; cold, mostly waiting on Debian's archive and PyPI) builds
# while the lints compile.
stage3_log=$(mktemp)
setsid tests/stage3/build-image >"$stage3_log" 2>&1 &
stage3_pid=$!
background+=("$stage3_pid")
# cosign, syft and promtool (cached by version; cold, a few minutes of Go builds) build beside
# them too.
tools_log=$(mktemp)
setsid nice -n 10 bash -c 'source scripts/setup.sh && ensure_supply_chain_tools' >"$tools_log" 2>&1 &
tools_pid=$!
background+=("$tools_pid")
cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The fuzz targets (their own workspace, run on nightly by scripts/fuzz.sh) must keep compiling.
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --target-dir target/fuzz-check
wait "$stage3_pid" || { cat "$stage3_log" >&2; echo "test: building the test stage3 failed" >&2; exit 1; }
rm -f "$stage3_log"
wait "$tools_pid" || { cat "$tools_log" >&2; echo "test: building cosign, syft and promtool failed" >&2; exit 1; }
rm -f "$tools_log"
ensure_supply_chain_tools    # sets COSIGN, SYFT and PROMTOOL for the tests
tests/stage3/test    # the step scripts on the test stage3 (real Portage)
# The zentoo image's static binary (a release build of every dependency for musl: the longest
# compile here) builds in the background while the tests run, at the lowest CPU and disk
# priority, in its own target directory: it takes the cores whenever the tests wait (servers,
# timers in the controller tests), and the image tests, which run last, find it built (or wait
# for cargo's lock on it). It starts after the step tests, so that those run as they always did.
image_log=$(mktemp)
setsid nice -n 19 ionice -c 3 bash scripts/build-image.sh --build-only >"$image_log" 2>&1 &
image_pid=$!
background+=("$image_pid")
# Most integration tests wait on servers: more test threads than cores, while heavy tests (real
# builds) take at most two at a time (tests/it/support/load.rs).
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-4}
cargo test "$@"

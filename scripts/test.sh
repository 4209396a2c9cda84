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
# themselves (the two tests of tests/zentoo_image.rs both ran scripts/build-image.sh, and one
# lost apt's lock installing musl-tools on a fresh machine).
ensure_musl    # tests/zentoo_image.rs builds the static zentoo image
ensure_apt ca-certificates

env_file=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env
if [ -s "$env_file" ]; then
    echo "test: the harness was up already; leaving it up" >&2
else
    trap 'tests/cluster/down' EXIT
fi
tests/cluster/up
# shellcheck source=/dev/null
source "$env_file"

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
# The fuzz targets (their own workspace, run on nightly by scripts/fuzz.sh) must keep compiling.
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins --target-dir target/fuzz-check
tests/stage3/test    # the test stage3 and the step scripts, on Podman
cargo test "$@"

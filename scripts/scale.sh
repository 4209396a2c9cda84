#!/usr/bin/env bash
# Scale run (minutes; not in CI): TUPLES tuples spread over SITES GentooSites on a private etcd +
# kube-apiserver + kube-controller-manager (built by tests/cluster/up), the controller as its
# own process (the release binary). Prints the figures docs/benchmarks.md keeps and writes them
# to target/scale-figures.txt.
# Usage: bash scripts/scale.sh [TUPLES [SITES]]   (default 2000; SITES: one per 2,500 tuples,
# so 4 at 10000; also ZENTOO_SCALE_SITES)
set -euo pipefail
cd "$(dirname "$0")/.."
env_file=${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env
[ -s "$env_file" ] || tests/cluster/up --only kube
# shellcheck source=/dev/null
source "$env_file"
# ZENTOO_SCALE_BIN measures another binary (e.g. the zentoo image's static one).
if [ -z "${ZENTOO_SCALE_BIN:-}" ]; then
    cargo build --release --bin zentoo
    ZENTOO_SCALE_BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/zentoo
fi
export ZENTOO_SCALE_BIN ZENTOO_SCALE_TUPLES=${1:-2000}
if [ -n "${2:-}" ]; then
    export ZENTOO_SCALE_SITES=$2
fi
timeout 7200 cargo test --test it scale:: -- --ignored --nocapture 2>&1 | grep --line-buffered -E 'MEASURED|panicked|test result|figures'

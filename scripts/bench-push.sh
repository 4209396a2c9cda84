#!/usr/bin/env bash
# Benchmarks git push -> build against the test cluster (tests/it/push_latency.rs, ignored by a
# plain `cargo test`): webhook received -> build Job created over ZENTOO_BENCH_PUSHES (100)
# pushes, and the polling detection delay for 2 s, 5 s and 10 s intervals over
# ZENTOO_BENCH_POLLS (8) commits each. Bounded: every wait in them gives up after 60 s.
# Figures go into docs/benchmarks.md. Usage: scripts/bench-push.sh
# ZENTOO_TEST_CACHE=/tmp/somewhere runs it on a private cluster (link $HOME/.cache/zentoo-test/bin
# to /tmp/somewhere/bin to skip the build), away from other test runs' load and CRD versions.
set -euo pipefail
cd "$(dirname "$0")/.."
tests/cluster/up --only kube >&2
# shellcheck disable=SC1091
. "${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env"
export ZENTOO_TEST_LOG=${ZENTOO_TEST_LOG:-zentoo=warn,kube=warn}
timeout "${ZENTOO_BENCH_TIMEOUT:-1800}" cargo test --test it push_latency:: -- --ignored --nocapture --test-threads=1 2>&1 |
    tee /dev/stderr | grep '^BENCH' || { echo "bench-push: no figures (see above)" >&2; exit 1; }

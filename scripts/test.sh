#!/usr/bin/env bash
# Runs every test: formatting, lints, unit tests and tests against real servers.
# Installs what is missing first. Usage: bash scripts/test.sh [cargo test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_rust

cargo fmt --all -- --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test "$@"

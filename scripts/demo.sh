#!/usr/bin/env bash
# The main job on the embedded default: make the example site and plan it.
# (Local builds on Podman extend this as they land.)
# Usage: bash scripts/demo.sh [SITE_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_rust

site=${1:-${TMPDIR:-/tmp}/zentoo-demo-site}
cargo build --release --quiet
zentoo=target/release/zentoo

if [ ! -d "$site/.git" ]; then
    "$zentoo" site init "$site"
fi
echo
echo "+ zentoo plan --site $site"
"$zentoo" plan --site "$site"

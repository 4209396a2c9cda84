#!/usr/bin/env bash
# The dashboard with 2,000 images: server-side render time (cargo bench --bench dashboard)
# and the browser's side, headless Chromium loading the rendered overview (5 runs).
# Usage: scripts/bench-dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
. scripts/setup.sh
ensure_rust
ensure_apt chromium-headless-shell
cargo bench --bench dashboard -- --noplot
page=$PWD/target/dashboard-2000.html
empty=$(mktemp --suffix=.html)
echo '<!DOCTYPE html><title>empty</title>' >"$empty"
# ms for headless Chromium to start, load FILE, lay it out and dump its DOM.
load() {
    local start end
    start=$(date +%s%N)
    chromium-headless-shell --no-sandbox --disable-gpu --dump-dom "file://$1" >/dev/null 2>&1
    end=$(date +%s%N)
    echo $(((end - start) / 1000000))
}
for run in 1 2 3 4 5; do
    echo "chromium, run $run: empty page $(load "$empty") ms; 2,000-image overview $(load "$page") ms"
done
rm -f "$empty"

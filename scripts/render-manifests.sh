#!/usr/bin/env bash
# Renders manifests/ from charts/zentoo with helm (built from the Go module proxy when
# missing): zentoo.yaml watches every namespace, zentoo-namespaced.yaml only `zentoo-builds`.
# Both install into `zentoo-system`. tests/it/manifests.rs fails when these files are stale.
# Usage: scripts/render-manifests.sh [OUTDIR]   (default: manifests)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
. scripts/setup.sh
ensure_helm
out=${1:-manifests}
mkdir -p "$out"
# The chart's CRDs are crds/ (generated from the Rust types); refreshed only when rendering
# into manifests/ itself, so a test rendering elsewhere changes nothing.
if [ "$out" = manifests ]; then
    cp crds/*.yaml charts/zentoo/crds/
fi
render() {
    local out=$1
    shift
    {
        echo "# Rendered by scripts/render-manifests.sh from charts/zentoo: do not edit."
        "$HELM" template zentoo charts/zentoo --namespace zentoo-system --include-crds "$@"
    } >"$out"
}
render "$out/zentoo.yaml"
render "$out/zentoo-namespaced.yaml" --set watchNamespace=zentoo-builds
echo "rendered $out/zentoo.yaml $out/zentoo-namespaced.yaml" >&2

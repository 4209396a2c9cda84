#!/usr/bin/env bash
# Renders manifests/ from charts/zentoo with helm (built from the Go module proxy when
# missing): zentoo.yaml watches every namespace, zentoo-namespaced.yaml only `zentoo-builds`.
# Both install into `zentoo-system`. tests/manifests.rs fails when these files are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/setup.sh
. scripts/setup.sh
ensure_helm
mkdir -p manifests
cmp -s crds/gentoosites.zentoo.dev.yaml charts/zentoo/crds/gentoosites.zentoo.dev.yaml &&
    cmp -s crds/gentooimages.zentoo.dev.yaml charts/zentoo/crds/gentooimages.zentoo.dev.yaml ||
    cp crds/*.yaml charts/zentoo/crds/
render() {
    local out=$1
    shift
    {
        echo "# Rendered by scripts/render-manifests.sh from charts/zentoo: do not edit."
        "$HELM" template zentoo charts/zentoo --namespace zentoo-system --include-crds "$@"
    } >"$out"
}
render manifests/zentoo.yaml
render manifests/zentoo-namespaced.yaml --set watchNamespace=zentoo-builds
echo "rendered manifests/zentoo.yaml manifests/zentoo-namespaced.yaml" >&2

#!/usr/bin/env bash
# The main job on the embedded default: a local build of the example site on Podman.
#   1. installs what is missing (Debian packages; Rust must be present) and builds zentoo
#   2. starts Podman's Docker-compatible API socket (tests/cluster/up --only podman)
#   3. builds the demo stage3 (a Debian minimal root with Gentoo's real Portage and the zentoo
#      test repository, see tests/stage3: no Gentoo image can be pulled here)
#   4. creates the example site (zentoo site init), plans it and builds every tuple
#   5. runs a compiled program of one of the images it made, with nothing lent to it
# Usage: bash scripts/demo.sh [SITE_DIR [OUT_DIR]]   (defaults under ${TMPDIR:-/tmp})
# Run it again: everything is "up to date"; commit to the site and run it again to rebuild.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
ensure_rust
ensure_stage3_tools

tmp=${TMPDIR:-/tmp}
site=${1:-$tmp/zentoo-demo-site}
out=${2:-$tmp/zentoo-demo-out}
cargo build --release --quiet
zentoo=$PWD/target/release/zentoo

tests/cluster/up --only podman >/dev/null
# shellcheck source=/dev/null
source "${ZENTOO_TEST_CACHE:-$HOME/.cache/zentoo-test}/env"
stage3=$(tests/stage3/build-image | tail -n 1)
echo "engine: $DOCKER_HOST"
echo "stage3: $stage3 (real Portage on a Debian root, a stand-in for gentoo/stage3: no registry is reachable here)"

if [ ! -d "$site/.git" ]; then
    "$zentoo" site init "$site"
fi
echo
echo "+ zentoo plan --site $site"
"$zentoo" plan --site "$site" || true
echo
echo "+ zentoo build --site $site --all --stage3 $stage3 --out $out"
"$zentoo" build --site "$site" --all --stage3 "$stage3" --out "$out"

image=localhost/zentoo/server-nodocs-web:latest
echo
echo "+ podman run --rm $image /usr/sbin/nginx   (real C, built by emerge, run from the image alone)"
podman run --rm "$image" /usr/sbin/nginx
echo
echo "Stage tarballs, DIGESTS and CONTENTS: $out/stages; logs: $out/logs"
echo "Try: $zentoo freshroot --site $site --stage3 $stage3 base-none-base"
echo "The Podman API socket stays up for that; stop it with tests/cluster/down."

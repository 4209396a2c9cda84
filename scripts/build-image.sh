#!/usr/bin/env bash
# Builds the zentoo image: a static (musl) `zentoo` binary packed by zentoo's own publisher
# (`zentoo publish`) into a one-layer OCI image with no shell — the binary, CA certificates,
# /etc/passwd and /etc/group with user 65532, /tmp — running as 65532, entrypoint `zentoo`.
# Reproducible: the same binary and SOURCE_DATE_EPOCH (default: the commit time of HEAD) give
# the same image digest.
#
# Usage: scripts/build-image.sh [--push REF | --load REF] [--oci-layout DIR] [-- PUBLISH_ARGS...]
#        scripts/build-image.sh --build-only
#   --build-only      only compile the static binary (what scripts/test.sh starts early, in the
#                     background, so that the image tests find it built); prints its path
#   --push REF        push to a registry (REF default: the chart's image, zentoo::DEFAULT_IMAGE)
#   --load REF        load into the Podman/Docker engine at $DOCKER_HOST
#   --oci-layout DIR  where the OCI layout goes (default target/zentoo-image/oci)
#   PUBLISH_ARGS      more `zentoo publish` flags, e.g. --insecure-registry HOST:PORT, --authfile
# Prints the image digest on stdout. Needs root (the root's files are owned by 65532 or root).
set -euo pipefail
umask 022
cd "$(dirname "$0")/.."
root=$PWD
# shellcheck source=scripts/setup.sh
. scripts/setup.sh

target=x86_64-unknown-linux-musl
arch=amd64
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
ref=ghcr.io/zentoo/zentoo:$version
layout=$root/target/zentoo-image/oci
action=()
build_only=0
while [ $# -gt 0 ]; do
    case $1 in
    --push | --load)
        [ $# -ge 2 ] || { echo "build-image: $1 needs a reference" >&2; exit 2; }
        ref=$2 action=("$1")
        shift 2
        ;;
    --build-only)
        build_only=1
        shift
        ;;
    --oci-layout)
        [ $# -ge 2 ] || { echo "build-image: --oci-layout needs a directory" >&2; exit 2; }
        layout=$2
        shift 2
        ;;
    --)
        shift
        break
        ;;
    *) echo "build-image: unknown argument $1 (see the usage at the top of $0)" >&2; exit 2 ;;
    esac
done
((build_only)) || [ "$(id -u)" -eq 0 ] ||
    { echo "build-image: run as root (files owned by uid 65532)" >&2; exit 2; }

ensure_musl
ensure_apt ca-certificates
# Paths of this checkout and of cargo's registry stay out of the binary, so that it does not
# depend on where it was built.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
# Run from `cargo test`, the environment holds the test crate's CARGO_MANIFEST_DIR, CARGO_PKG_*...:
# build scripts that watch them (ring's) would make every run from a test rebuild.
for v in $(compgen -e | grep -E '^CARGO_(MANIFEST_|PKG_|BIN_EXE_|CRATE_|PRIMARY_|TARGET_TMPDIR)' || true); do
    unset "$v"
done
export RUSTFLAGS="--remap-path-prefix=$root=/zentoo --remap-path-prefix=$cargo_home=/cargo"
echo "build-image: cargo build --profile image --target $target" >&2
cargo build --locked --profile image --target "$target" --bin zentoo
bin=$root/target/$target/image/zentoo
if ((build_only)); then
    echo "$bin"
    exit 0
fi

# The root: nothing but what the binary needs.
mkdir -p "$root/target/zentoo-image"
rootfs=$(mktemp -d "$root/target/zentoo-image/rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT
chmod 0755 "$rootfs"
mkdir -p "$rootfs"/usr/local/bin "$rootfs"/etc/ssl/certs "$rootfs"/tmp "$rootfs"/var/cache/zentoo
install -m 0755 "$bin" "$rootfs/usr/local/bin/zentoo"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
printf '%s\n' 'root:x:0:' 'nonroot:x:65532:' >"$rootfs/etc/group"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
chown 65532:65532 "$rootfs/var/cache/zentoo"
chmod -R go-w "$rootfs/usr" "$rootfs/etc"

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
revision=$(git rev-parse HEAD)
source_url=https://github.com/zentoo/zentoo
rm -rf "$layout"
mkdir -p "$(dirname "$layout")"
# zentoo packs itself. gzip layers: every runtime a cluster may use reads them.
"$bin" publish --rootfs "$rootfs" --arch "$arch" --compression gzip \
    --entrypoint '["/usr/local/bin/zentoo"]' --user 65532:65532 \
    --env PATH=/usr/local/bin:/usr/bin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --label "org.opencontainers.image.version=$version" \
    --label "org.opencontainers.image.source=$source_url" \
    --label "org.opencontainers.image.revision=$revision" \
    --annotation "org.opencontainers.image.version=$version" \
    --annotation "org.opencontainers.image.source=$source_url" \
    --annotation "org.opencontainers.image.revision=$revision" \
    --annotation "org.opencontainers.image.title=zentoo" \
    --tuple zentoo --oci-layout "$layout" --image "$ref" ${action[@]+"${action[@]}"} \
    --output json "$@" |
    sed -n 's/.*"imageDigest":"\([^"]*\)".*/\1/p'

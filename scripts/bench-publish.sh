#!/usr/bin/env bash
# Packs a generated 1 GiB root (many small files plus some large ones, owned by 31 packages
# in a generated /var/db/pkg) into a zstd image with `zentoo publish` (layers by package, and
# one layer), and the same root with `tar -C root -cf - . | zstd -T0`, interleaved, ROUNDS
# times; prints wall time and peak RSS of each run (GNU time -v), then the medians and the
# ratio to tar | zstd. The root is deleted afterwards.
# Usage: bash scripts/bench-publish.sh [ZENTOO_BINARY] [ROUNDS]
#        (default: target/release/zentoo, 5 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/zentoo}
rounds=${2:-5}
[ -x "$bin" ] || { echo "build first: cargo build --release --bin zentoo" >&2; exit 2; }
work=$(mktemp -d /tmp/zentoo-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

python3 scripts/gen-root.py "$root"
du -sh "$root" >&2
export SOURCE_DATE_EPOCH=1700000000

measure() { # label, command...; appends "label wall-seconds" to $work/walls
    local label=$1; shift
    if ! /usr/bin/time -v "$@" 2> "$work/time.txt" > /dev/null; then
        cat "$work/time.txt" >&2
        return 1
    fi
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$work/time.txt")
    printf '%-32s wall %-8s cpu %6ss  peak RSS %4d MiB\n' "$label" "$wall" "$cpu" $((rss / 1024))
    echo "$label $wall" | awk '{n = split($NF, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; $NF = ""; print $0 s}' >> "$work/walls"
}

tar -C "$root" -cf - . > /dev/null   # warm the page cache for all
for round in $(seq "$rounds"); do
    rm -rf "$work/layout" "$work/single" "$work/ref.tar.zst"
    measure "tar | zstd -T0" sh -c "tar -C '$root' -cf - . | zstd -T0 -q -o '$work/ref.tar.zst'"
    measure "zentoo publish --layers auto" "$bin" publish --rootfs "$root" --oci-layout "$work/layout" --compression zstd
    measure "zentoo publish --layers single" "$bin" publish --rootfs "$root" --oci-layout "$work/single" --compression zstd --layers single
done
ls -l "$work/ref.tar.zst" "$work"/single/blobs/sha256/ | awk '$5 > 100000000 {print $5, $NF}' >&2
echo "layers: $(ls "$work"/layout/blobs/sha256 | wc -l) blobs in the layered layout" >&2
# Medians over the rounds, and each against tar | zstd.
median() { # label
    grep -F "$1 " "$work/walls" | awk '{print $NF}' | sort -n |
        awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ref=$(median "tar | zstd -T0")
for label in "tar | zstd -T0" "zentoo publish --layers auto" "zentoo publish --layers single"; do
    m=$(median "$label")
    awk -v l="$label" -v m="$m" -v r="$ref" 'BEGIN {printf "median %-32s %6.2f s  %.2fx\n", l, m, m / r}'
done

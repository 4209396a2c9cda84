#!/usr/bin/env bash
# Packs a generated 1 GiB root (many small files plus some large ones) into a zstd layer with
# `zentoo publish`, and the same root with `tar -C root -cf - . | zstd -T0`, in the same run;
# prints wall time and peak RSS of each (GNU time -v). The root is deleted afterwards.
# Usage: bash scripts/bench-publish.sh [ZENTOO_BINARY]   (default: target/release/zentoo)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/zentoo}
[ -x "$bin" ] || { echo "build first: cargo build --release --bin zentoo" >&2; exit 2; }
work=$(mktemp -d /tmp/zentoo-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root

python3 - "$root" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(42)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4000)]
def text(n):
    out = bytearray()
    while len(out) < n:
        out += rng.choice(words) + b" "
    return bytes(out[:n])
total = 0
# ~45,000 small files, 1-20 KiB: half text, half random (like binaries), in 3 levels of dirs.
for i in range(45000):
    d = os.path.join(root, "usr", f"d{i % 30}", f"e{i % 700}")
    os.makedirs(d, exist_ok=True)
    n = rng.randint(1024, 20 * 1024)
    data = text(n) if i % 2 else os.urandom(n)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
    total += n
# Large files up to 1 GiB in total: random and text halves.
big = os.path.join(root, "var", "big")
os.makedirs(big, exist_ok=True)
i = 0
while total < (1 << 30):
    n = min(96 << 20, (1 << 30) - total)
    with open(os.path.join(big, f"b{i}"), "wb") as f:
        chunk = text(1 << 20)
        for k in range(n >> 20):
            f.write(os.urandom(1 << 20) if k % 2 else chunk)
    total += n
    i += 1
print(f"generated {total / (1 << 20):.0f} MiB", file=sys.stderr)
PY
du -sh "$root" >&2
export SOURCE_DATE_EPOCH=1700000000

measure() { # label, command...
    local label=$1; shift
    if ! /usr/bin/time -v "$@" 2> "$work/time.txt" > /dev/null; then
        cat "$work/time.txt" >&2
        return 1
    fi
    local wall rss cpu
    wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.1f", s}' "$work/time.txt")
    printf '%-28s wall %-8s cpu %6ss  peak RSS %4d MiB\n' "$label" "$wall" "$cpu" $((rss / 1024))
}

tar -C "$root" -cf - . > /dev/null   # warm the page cache for both
for round in 1 2; do
    rm -rf "$work/layout" "$work/ref.tar.zst"
    measure "tar | zstd -T0 (round $round)" sh -c "tar -C '$root' -cf - . | zstd -T0 -q -o '$work/ref.tar.zst'"
    measure "zentoo publish (round $round)" "$bin" publish --rootfs "$root" --oci-layout "$work/layout" --compression zstd
done
ls -l "$work/ref.tar.zst" "$work"/layout/blobs/sha256/ | awk '$5 > 100000000 {print $5, $NF}' >&2

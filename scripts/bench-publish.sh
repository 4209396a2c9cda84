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
owned = {}  # package -> CONTENTS lines
def own(pkg, rel):
    st = os.lstat(os.path.join(root, rel))
    owned.setdefault(pkg, []).append(f"obj /{rel} 0 {int(st.st_mtime)}")
# ~45,000 small files, 1-20 KiB: half text, half random (like binaries), in 3 levels of dirs.
for i in range(45000):
    d = os.path.join(root, "usr", f"d{i % 30}", f"e{i % 700}")
    os.makedirs(d, exist_ok=True)
    n = rng.randint(1024, 20 * 1024)
    data = text(n) if i % 2 else os.urandom(n)
    with open(os.path.join(d, f"f{i}"), "wb") as f:
        f.write(data)
    own(f"dev-libs/d{i % 30}-1.0", os.path.relpath(os.path.join(d, f"f{i}"), root))
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
    own("app-misc/big-1.0", f"var/big/b{i}")
    i += 1
for pkg, lines in owned.items():
    d = os.path.join(root, "var/db/pkg", pkg)
    os.makedirs(d)
    with open(os.path.join(d, "CONTENTS"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(d, "BUILD_TIME"), "w") as f:
        f.write("1699990000\n")
print(f"generated {total / (1 << 20):.0f} MiB", file=sys.stderr)
PY
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

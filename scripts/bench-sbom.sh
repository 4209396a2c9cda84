#!/usr/bin/env bash
# SBOM generation time and size: `zentoo sbom` (what `zentoo publish` attaches) in SPDX and
# CycloneDX, ROUNDS times each, on roots made by real Portage. Each argument is a root directory
# or a stage tarball (unpacked into a temporary directory first), or the word `generated` for the
# 1 GiB root of scripts/gen-root.py (45,000 files in 31 packages); without arguments, the stage
# tarballs of the demo (`bash scripts/demo.sh`, in /tmp/zentoo-demo-out/stages). Prints, per
# root and format: packages, files, median wall time of the whole command and of reading the
# the document's size (counts read from the document itself).
# Usage: bash scripts/bench-sbom.sh [ROOT_OR_TARBALL...]   (env BIN, default target/release/zentoo;
#        ROUNDS, default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-target/release/zentoo}
rounds=${ROUNDS:-5}
[ -x "$bin" ] || { echo "build first: cargo build --release --bin zentoo" >&2; exit 2; }
work=$(mktemp -d /tmp/zentoo-bench-sbom.XXXXXX)
trap 'rm -rf "$work"' EXIT
if [ $# -eq 0 ]; then
    shopt -s nullglob
    set -- /tmp/zentoo-demo-out/stages/stage3-*.tar.xz
    [ $# -gt 0 ] || { echo "no roots: give some, or run bash scripts/demo.sh first" >&2; exit 2; }
fi

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

printf '%-44s %-9s %8s %7s %9s %10s\n' root format packages files "ms" bytes
n=0
for source in "$@"; do
    n=$((n + 1))
    if [ "$source" = generated ]; then
        root=$work/root$n
        python3 scripts/gen-root.py "$root"
    elif [ -d "$source" ]; then
        root=$source
    else
        root=$work/root$n
        mkdir -p "$root"
        tar -C "$root" -xf "$source"
    fi
    name=$(basename "$source")
    for format in spdx cyclonedx; do
        : > "$work/times"
        for _ in $(seq "$rounds"); do
            start=$(date +%s%N)
            "$bin" sbom --rootfs "$root" --format "$format" -o "$work/doc.json" 2>/dev/null
            end=$(date +%s%N)
            echo $(((end - start) / 1000)) >> "$work/times"
        done
        # SPDX: packages (less the image itself) and files; CycloneDX: components and their
        # file components.
        read -r packages files < <(python3 - "$work/doc.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
if "spdxVersion" in doc:
    print(len(doc.get("packages", [])) - 1, len(doc.get("files", [])))
else:
    comps = doc.get("components", [])
    libs = [c for c in comps if c.get("type") != "file"]
    files = sum(len(c.get("components", [])) for c in libs) + len(comps) - len(libs)
    print(len(libs), files)
PY
)
        total=$(median < "$work/times")
        printf '%-44s %-9s %8s %7s %9.1f %10s\n' "${name:0:44}" "$format" "$packages" "$files" \
            "$(awk -v t="$total" 'BEGIN { print t / 1000 }')" "$(stat -c %s "$work/doc.json")"
    done
done

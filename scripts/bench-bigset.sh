#!/usr/bin/env bash
# Plan memory with one big set (docs/benchmarks.md, "Plan: one big set shared by 1,000 tuples"):
# a bare site whose 1,000 tuples all use one 1 MiB set of 111,111 atoms, planned by `zentoo
# plan` under /usr/bin/time -v (wall time and peak RSS). Usage:
#   bash scripts/bench-bigset.sh [ZENTOO_BINARY] [-- extra `zentoo plan` flags]
# Default binary: target/release/zentoo (built first). Set ZENTOO_BIGSET_KEEP=DIR to keep the site.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=""
if [ $# -gt 0 ] && [ "$1" != -- ]; then bin=$1; shift; fi
if [ "${1:-}" = -- ]; then shift; fi
if [ -z "$bin" ]; then
	cargo build --release --bin zentoo
	bin=$PWD/target/release/zentoo
fi
command -v /usr/bin/time >/dev/null || { echo "needs /usr/bin/time (apt-get install time)" >&2; exit 2; }

tuples=1000 atoms=111111
site=${ZENTOO_BIGSET_KEEP:-$(mktemp -d)}
[ -n "${ZENTOO_BIGSET_KEEP:-}" ] || trap 'rm -rf "$site"' EXIT
if [ ! -f "$site/HEAD" ]; then
	git init -q --bare -b main "$site"
	work=$(mktemp -d)
	git -C "$work" init -q -b main
	mkdir "$work/sets"
	# a/b00000 ... a/b111110: 1,011,110 bytes, under the 1 MiB file limit.
	awk -v n="$atoms" 'BEGIN { for (i = 0; i < n; i++) printf "a/b%05d\n", i }' > "$work/sets/big"
	awk -v n="$tuples" 'BEGIN { for (i = 0; i < n; i++) printf "p%d-none-big\n", i }' > "$work/tuples"
	git -C "$work" add -A
	git -C "$work" -c user.name=bench -c user.email=bench@localhost commit -qm site
	git -C "$work" push -q "$site" main
	git -C "$work" checkout -q --orphan portage
	git -C "$work" rm -rqf .
	echo 'USE="x"' > "$work/make.conf"
	git -C "$work" add make.conf
	git -C "$work" -c user.name=bench -c user.email=bench@localhost commit -qm portage
	commit=$(git -C "$work" rev-parse HEAD)
	git -C "$work" push -q "$site" "$commit:refs/heads/portage/p0"
	for ((i = 1; i < tuples; i++)); do echo "create refs/heads/portage/p$i $commit"; done |
		git -C "$site" update-ref --stdin
	rm -rf "$work"
fi
echo "site: $site ($(wc -c < <(git -C "$site" show main:sets/big)) bytes of set, $tuples tuples)"
out=$(mktemp)
/usr/bin/time -v "$bin" plan --site "$site" "$@" > "$out" 2> "$out.time" || true
tail -n 3 "$out"
grep -E 'Elapsed|Maximum resident' "$out.time"
rm -f "$out" "$out.time"

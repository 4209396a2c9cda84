#!/usr/bin/env bash
# Fuzzes every parser that reads outside data (tuples, sets, cpus.yaml, webhook payloads, the
# publish termination message) with cargo-fuzz (libFuzzer), each for SECONDS (default 600),
# one after another. Seeds: fuzz/seeds/<target> (in git); what libFuzzer finds grows in
# fuzz/corpus/<target> (not in git); crashes land in fuzz/artifacts/<target>.
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
#   ZENTOO_FUZZ_JOBS=2 bash scripts/fuzz.sh 600 tuples    # more workers
#
# Needs a nightly toolchain (`rustup toolchain install nightly`) and cargo-fuzz
# (`cargo install cargo-fuzz`); both are installed when missing. Prints one summary line per
# target (runs, executions, crashes) and exits non-zero when any target crashed.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tuples sets cpus webhook termination)
jobs=${ZENTOO_FUZZ_JOBS:-1}

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    log="artifacts/$t/fuzz.log"
    # -timeout: one input may take at most 10 s; -rss_limit_mb: 2 GiB.
    if cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -jobs="$jobs" -workers="$jobs" -print_final_stats=1 >"$log" 2>&1; then
        result=ok
    else
        result=CRASHED
        status=1
    fi
    execs=$(grep -h 'stat::number_of_executed_units' "$log" fuzz-*.log 2>/dev/null \
        | awk '{s+=$2} END {print s+0}')
    crashes=$(find "artifacts/$t" -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' | wc -l)
    units=$(find "corpus/$t" -type f | wc -l)
    printf 'fuzz %-12s %s: %ss, %s executions, %s crash/oom/timeout files, corpus %s\n' \
        "$t" "$result" "$seconds" "$execs" "$crashes" "$units"
    rm -f fuzz-*.log
done
exit "$status"

#!/usr/bin/env bash
# bench/lost-answers.sh end to end in its smallest form (two rounds of 2 s windows), so it cannot
# rot: a row per window and the two kinds pooled with their figures, answers lost only in the
# faulty windows (the proxies applied the fault, and only when told), the ratio of each round and
# their median, a CPU time per checkout that is not zero (the stack's processes were found), a
# verdict per target, the orders by status. The figures are not judged (make bench prints them;
# a noisy CI machine cannot hold a throughput target). About 35 s.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
OUT="$(mktemp)"
trap 'rm -f -- "$OUT"' EXIT

fail()
{
    echo "FAIL: $*" >&2
    echo "---- bench/lost-answers.sh said ----" >&2
    cat "$OUT" >&2
    exit 1
}

main()
{
    local figures='+[0-9]+\.[0-9] +([1-9][0-9]*\.[0-9]|0\.[1-9]) +[1-9][0-9]* +[0-9]+ +[0-9]+ +[0-9]+ +[1-9][0-9]* +[0-9]+ +[0-9]+'
    local cpu='([1-9][0-9]*\.[0-9]|0\.[1-9])'
    [[ -x $BIN_DIR/tools/faultproxy/faultproxy ]] || fail "$BIN_DIR/tools/faultproxy/faultproxy is not built"
    BENCH_NO_BUILD=1 MS_BUILD_DIR="$BIN_DIR" BENCH_LOST_SECONDS=2 BENCH_LOST_ROUNDS=2 timeout 150 \
        bash "$ROOT/bench/lost-answers.sh" >"$OUT" 2>&1 || fail "bench/lost-answers.sh failed"
    grep -qE "^fault-free $figures +0\$" "$OUT" || fail "no fault-free row, or answers lost in it"
    grep -qE "^1 % answers lost $figures +[1-9][0-9]*\$" "$OUT" || fail "no faulty row, or no answer lost in it"
    [[ $(grep -cE "^  round [12] fault-free $figures +0\$" "$OUT") == 2 ]] || fail "not two fault-free windows"
    [[ $(grep -cE "^  round [12] lossy $figures +[1-9][0-9]*  ratio [0-9]+ %\$" "$OUT") == 2 ]] ||
        fail "not two faulty windows"
    grep -qE "^ratio per round: [0-9]+ %, [0-9]+ %; median [0-9]+ %; CPU per checkout: $cpu ms fault-free, $cpu ms with answers lost \([0-9]+ %\)\$" "$OUT" ||
        fail "no median ratio or CPU time per checkout"
    grep -qE '^target: throughput with answers lost >= 80 % of fault-free: [0-9]+ %: (met|NOT MET)$' "$OUT" ||
        fail "no throughput verdict"
    grep -qE '^target: every key final within 10 s of retries: [0-9]+ of [1-9][0-9]* \([0-9]+ without a final answer\): (met|NOT MET)$' "$OUT" ||
        fail "no key verdict"
    grep -qE '^orders by status: .*confirmed [1-9]' "$OUT" || fail "no orders by status"
    echo "ok: $(grep -E '^target' "$OUT" | tr '\n' ' ')"
}

main "$@"

#!/usr/bin/env bash
# bench/lost-answers.sh end to end in its smallest form (2 s per phase), so it cannot rot: the
# two rows with their figures, answers lost only in the faulty phase (the proxies applied the
# fault, and only when told), a verdict per target, the orders by status. The figures are not
# judged (the targets wait for issue 12's fixes; make bench prints them). About 25 s.
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
    local figures='+[0-9]+\.[0-9] +[1-9][0-9]* +[0-9]+ +[0-9]+ +[0-9]+ +[1-9][0-9]* +[0-9]+ +[0-9]+'
    [[ -x $BIN_DIR/tools/faultproxy/faultproxy ]] || fail "$BIN_DIR/tools/faultproxy/faultproxy is not built"
    BENCH_NO_BUILD=1 MS_BUILD_DIR="$BIN_DIR" BENCH_LOST_SECONDS=2 timeout 120 \
        bash "$ROOT/bench/lost-answers.sh" >"$OUT" 2>&1 || fail "bench/lost-answers.sh failed"
    grep -qE "^fault-free $figures +0\$" "$OUT" || fail "no fault-free row, or answers lost in it"
    grep -qE "^1 % answers lost $figures +[1-9][0-9]*\$" "$OUT" || fail "no faulty row, or no answer lost in it"
    grep -qE '^target: throughput with answers lost >= 80 % of fault-free: [0-9]+ %: (met|NOT MET)$' "$OUT" ||
        fail "no throughput verdict"
    grep -qE '^target: every key final within 10 s of retries: [0-9]+ of [1-9][0-9]* \([0-9]+ without a final answer\): (met|NOT MET)$' "$OUT" ||
        fail "no key verdict"
    grep -qE '^orders by status: .*confirmed [1-9]' "$OUT" || fail "no orders by status"
    echo "ok: $(grep -E '^target' "$OUT" | tr '\n' ' ')"
}

main "$@"

#!/usr/bin/env bash
# make bench (bench/run.sh) end to end in its smallest form, so it cannot rot: one round of one
# second per case with the binaries of $MS_BINARY_DIR. The figures are not judged (they are
# make bench's job, on a quiet machine); the table is: every row with its numbers, no failed
# request, a verdict per target, and every service with its RSS and time to ready. About 40 s.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
START=$SECONDS
OUT="$(mktemp)"
trap 'rm -f -- "$OUT"' EXIT

fail()
{
    echo "FAIL: $*" >&2
    echo "---- bench/run.sh said ----" >&2
    cat "$OUT" >&2
    exit 1
}

# row LABEL: the table row starting with LABEL; fails unless it has a rate, p50, p99, a ratio,
# a CPU time, 0 errors and a target.
row()
{
    local line
    line="$(grep -F -- "$1" "$OUT" | grep -vE '^  round' | tail -n 1)" || fail "no row '$1'"
    [[ ${line:0:${#1}} == "$1" ]] || fail "row '$1' is not at the start of a line: $line"
    line="${line:${#1}}"
    [[ $line =~ ^\ +[1-9][0-9]*\ +[0-9]+\.[0-9]{2}\ +[0-9]+\.[0-9]{2}\ +[0-9]+\ %\ +[0-9]+\ +0\ \ (.+)$ ]] ||
        fail "row '$1' lacks its figures or had errors: $line"
    ROW_TARGET="${BASH_REMATCH[1]}"
}

main()
{
    local svc line
    [[ -x $BIN_DIR/bench/bench-hello ]] || fail "$BIN_DIR/bench/bench-hello is not built"
    if ! BENCH_NO_BUILD=1 MS_BUILD_DIR="$BIN_DIR" BENCH_SECONDS=1 BENCH_ROUNDS=1 \
        BENCH_ORDER_CONNECTIONS=8 timeout 120 bash "$ROOT/bench/run.sh" >"$OUT" 2>&1; then
        fail "bench/run.sh failed"
    fi
    grep -qE '^==== microshop bench: medians of 1 round\(s\) x 1 s per case ====$' "$OUT" || fail "no table header"
    grep -qE '^machine  .+, [0-9]+ cores, ' "$OUT" || fail "no machine line"

    row "ceiling: MHD hello-world (server.c opts)"
    [[ $ROW_TARGET == "the ceiling" ]] || fail "hello-world row: $ROW_TARGET"
    grep -qE '^ceiling: MHD hello-world \(server.c opts\) +[0-9]+ +[0-9.]+ +[0-9.]+ +100 %' "$OUT" ||
        fail "the hello-world is not 100 % of itself"
    row "ceiling: nginx return 200"
    row "GET /products/{id} (Redis cache)"
    [[ $ROW_TARGET =~ ^'>= 50 % of hello: '(met|NOT MET)$ ]] || fail "product row without its verdict: $ROW_TARGET"
    row "GET /products?limit=20 (Redis cache)"
    row "GET /cart/{id} (3 lines, enriched)"
    row "POST /orders (saga, 8 connections)"
    [[ $ROW_TARGET =~ ^'>= 1000/s, p99 <= 50 ms: '(met|NOT MET)$ ]] || fail "orders row without its verdict: $ROW_TARGET"
    grep -qE '^ +product cache during the load: [1-9][0-9]* hits, [0-9]+ misses$' "$OUT" ||
        fail "no product cache hits during the load"

    for svc in product cart order user inventory notification; do
        line="$(grep -E "^$svc +[0-9]" "$OUT")" || fail "no service row for $svc"
        [[ $line =~ ^$svc\ +[0-9]+\.[0-9]\ MB\ +[0-9]+\.[0-9]\ MB\ +[0-9]+\.[0-9]\ MB\ +[0-9]+(\.[0-9]+)?\ \ (met|NOT\ MET:[a-z\ ]+)\ \([0-9]+\.[0-9]/[0-9]+\.[0-9]\)$ ]] ||
            fail "service row without RSS, time to ready and verdict: $line"
    done
    echo "ok: bench/run.sh printed the whole table in $((SECONDS - START)) s"
    sed -n '/^==== microshop bench/,$p' "$OUT"
}

main "$@"

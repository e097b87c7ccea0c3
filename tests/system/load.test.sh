#!/usr/bin/env bash
# The load tests (load-test/run.sh, make load) against a whole native stack: scripts/up.sh on
# free loopback ports in a temporary directory (bench/lib.sh's start_stack, the binaries of
# $MS_BINARY_DIR, PostgreSQL without fsync), each scenario briefly through the gateway, browse
# and cart straight to their services, a paced run, a sold-out checkout, and the failures that
# must be reported: a service down, an unknown scenario, an unreachable target. Each report must
# hold requests/s, p50/p90/p99/p99.9 and the answers by status, and its counts must be the ones
# the services saw (orders_total, cart_operations_total). About 60 s.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
export MS_BUILD_DIR="${MS_BINARY_DIR:-$ROOT/build}"
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=../../bench/lib.sh
. "$ROOT/bench/lib.sh"

START=$SECONDS
CHECKS=0

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

ok()
{
    CHECKS=$((CHECKS + 1))
    echo "ok [$((SECONDS - START))s]: $*"
}

# load NAME ARGS...: runs load-test/run.sh; its output in $T/NAME.out, its exit status in RC.
load()
{
    local name="$1"
    shift
    RC=0
    bash "$ROOT/load-test/run.sh" "$@" >"$T/$name.out" 2>&1 || RC=$?
}

# summary_field NAME KEY: KEY's value on the summary line of run NAME.
summary_field()
{
    sed -nE "s/^summary .*\\b$2=([^ ]+).*/\\1/p" "$T/$1.out"
}

# expect_report NAME: run NAME succeeded and printed the whole report, with requests.
expect_report()
{
    local name="$1" f="$T/$1.out" requests rps
    [[ $RC == 0 ]] || fail "$name: exit $RC: $(cat "$f")"
    grep -qE '^requests  [0-9]+, [0-9.]+ requests/s$' "$f" || fail "$name: no requests/s line: $(cat "$f")"
    grep -qE '^latency   p50 [0-9.]+ ms  p90 [0-9.]+ ms  p99 [0-9.]+ ms  p99\.9 [0-9.]+ ms  max [0-9.]+ ms$' "$f" ||
        fail "$name: no latency percentiles: $(cat "$f")"
    grep -qE '^ +200 +[0-9]+  expected: ok$' "$f" || fail "$name: no 200 answers marked expected: $(cat "$f")"
    grep -qE '^errors    socket: connect 0, read 0, write 0, timeout 0$' "$f" || fail "$name: socket errors: $(cat "$f")"
    grep -q '^load: ok: every answer was expected$' "$f" || fail "$name: no ok verdict"
    requests="$(summary_field "$name" requests)"
    rps="$(summary_field "$name" rps)"
    [[ "$(summary_field "$name" unexpected)" == 0 ]] || fail "$name: unexpected answers"
    if ((requests == 0)) || ! awk -v r="$rps" 'BEGIN { exit !(r > 0) }'; then
        fail "$name: no requests done"
    fi
}

# step_count NAME STEP STATUS: how many STATUS answers run NAME counted for STEP.
step_count()
{
    sed -nE "s/^ +$2 .* $3 x([0-9]+).*/\\1/p" "$T/$1.out" | head -n 1
}

# metric URL SAMPLE: the value of one sample in URL/metrics (0 when absent).
metric()
{
    curl -sS --max-time 5 "$1/metrics" | awk -v s="$2" 'index($0, s " ") == 1 { v = $2 } END { print v + 0 }'
}

check_scenarios()
{
    local s order confirmed0 confirmed1 orders extra
    order="$(ms_service_url order)"
    for s in browse cart checkout mixed; do
        confirmed0="$(metric "$order" 'orders_total{result="confirmed"}')"
        load "$s" --scenario "$s" --connections 4 --duration 3s
        expect_report "$s"
        confirmed1="$(metric "$order" 'orders_total{result="confirmed"}')"
        orders="$(step_count "$s" checkout.order 201)"
        case $s in
        browse)
            [[ -n "$(step_count "$s" browse.list 200)" && -n "$(step_count "$s" browse.detail 200)" ]] ||
                fail "browse: not both lists and details: $(cat "$T/$s.out")"
            ;;
        cart)
            [[ -n "$(step_count "$s" cart.add 200)" && -n "$(step_count "$s" cart.remove 200)" ]] ||
                fail "cart: no adds or removes"
            ;;
        checkout | mixed)
            grep -q '^restocked [0-9]* products to 1000000 each' "$T/$s.out" || fail "$s: no restock"
            [[ "$(step_count "$s" checkout.signup 201)" == 4 ]] || fail "$s: not one signup per VU (4)"
            ((orders > 0)) || fail "$s: no order placed"
            ;;
        esac
        # Every order the report counts is one the order service confirmed; the service may have
        # confirmed up to one more per VU, whose answer wrk did not wait for at the end.
        extra=$((confirmed1 - confirmed0 - ${orders:-0}))
        ((extra >= 0 && extra <= 4)) ||
            fail "$s: the report counts ${orders:-0} orders, the order service confirmed $((confirmed1 - confirmed0))"
        ok "$s through the gateway: $(summary_field "$s" requests) requests, $(summary_field "$s" rps)/s, p99 $(summary_field "$s" p99_ms) ms, ${orders:-0} orders (orders_total: +$((orders + extra)))"
    done
}

check_native_and_rate()
{
    local s achieved
    for s in browse cart; do
        load "native-$s" --scenario "$s" --target native --connections 2 --duration 2s
        expect_report "native-$s"
        grep -q "^target    http://127.0.0.1:$(ms_service_port "$([[ $s == browse ]] && echo product || echo cart)") (the" \
            "$T/native-$s.out" || fail "native $s did not go to its service: $(grep '^target' "$T/native-$s.out")"
    done
    ok "browse and cart straight to the product and cart services (--target native)"

    load paced --scenario browse --connections 4 --duration 3s --rate 100
    expect_report paced
    grep -q '^pacing    offered rate 100 requests/s (40.0 ms apart per VU), achieved ' "$T/paced.out" ||
        fail "paced: no offered/achieved rate: $(grep '^pacing' "$T/paced.out")"
    achieved="$(summary_field paced rps)"
    awk -v r="$achieved" 'BEGIN { exit !(r >= 60 && r <= 110) }' ||
        fail "paced: offered 100 requests/s, achieved $achieved"
    ok "--rate 100 with 4 VUs: achieved $achieved requests/s"
}

check_sold_out()
{
    local inv id
    inv="$(ms_service_url inventory)"
    for id in $(seq 1 27); do
        curl -sS -f -o /dev/null -X PUT "$inv/inventory/$id" -d '{"available":1}' || fail "PUT stock $id"
    done
    load soldout --scenario checkout --connections 4 --duration 2s --no-restock
    expect_report soldout
    grep -qE '^ +409 +[0-9]+  expected: sold out$' "$T/soldout.out" ||
        fail "sold out: no 409 marked expected: $(cat "$T/soldout.out")"
    grep -q '^stock left as it is (--no-restock)' "$T/soldout.out" || fail "sold out: restocked anyway"
    ok "checkout with 1 of each left: $(step_count soldout checkout.order 201) orders, $(step_count soldout checkout.order 409) x 409 sold out, counted as expected"
}

# expect_usage_error NAME TEXT: run NAME exited 2 saying TEXT.
expect_usage_error()
{
    if [[ $RC != 2 ]] || ! grep -qF -- "$2" "$T/$1.out"; then
        fail "$1: exit $RC, expected 2 with '$2': $(cat "$T/$1.out")"
    fi
}

check_failures()
{
    local pid port
    load bad-scenario --scenario nope
    expect_usage_error bad-scenario "unknown scenario 'nope'"
    load bad-native --scenario checkout --target native
    expect_usage_error bad-native 'crosses services'
    ms_free_port port
    load unreachable --scenario browse --target "http://127.0.0.1:$port"
    expect_usage_error unreachable 'is the shop running'
    ok "unknown scenario, checkout --target native and an unreachable target: exit 2 with a reason"

    pid="$(ms_service_pid cart)" || fail "cart is not running"
    # runit would restart a killed cart at once: `sv stop` keeps it down
    sv stop "$(ms_sv_dir cart)" >/dev/null || fail "sv stop cart failed"
    while ms_pid_running "$pid"; do
        sleep 0.1
    done
    load cart-down --scenario cart --connections 2 --duration 2s
    [[ $RC == 1 ]] || fail "cart down: exit $RC, expected 1: $(cat "$T/cart-down.out")"
    grep -qE '^ +50[234] +[0-9]+  [0-9]+ UNEXPECTED$' "$T/cart-down.out" ||
        fail "cart down: no UNEXPECTED 5xx line: $(cat "$T/cart-down.out")"
    grep -q '^load: FAIL: unexpected answers or socket errors' "$T/cart-down.out" || fail "cart down: no FAIL verdict"
    ok "cart stopped: the cart scenario fails (exit 1) and reports $(grep -E 'UNEXPECTED$' "$T/cart-down.out" | awk '{ print $2 " x " $1 }' | paste -sd, -) as unexpected"
}

main()
{
    [[ -x $MS_BUILD_DIR/services/cart/cart ]] || fail "$MS_BUILD_DIR holds no service binaries"
    command -v wrk >/dev/null || fail "wrk is not installed"
    ms_nginx_bin >/dev/null || fail "nginx is not installed (the gateway)"
    begin
    BENCH_PG_FAST=1 start_stack
    ok "stack up on free ports (gateway :$MS_GATEWAY_PORT)"
    check_scenarios
    check_native_and_rate
    check_sold_out
    check_failures
    echo "load: $CHECKS checks passed in $((SECONDS - START)) s"
}

main "$@"

#!/usr/bin/env bash
# Instructions per request on the hot paths, with valgrind --tool=callgrind: repeatable on a
# noisy machine where wall-clock figures are not. Starts the bench stack (bench/lib.sh), then
# for each case a second instance of the service under callgrind on a free port (the ceiling:
# bench-hello), warms it up, zeroes the counters, drives it with wrk for PROFILE_SECONDS,
# dumps, and prints the instructions per request and the functions that cost the most.
#
#   bench/profile.sh [hello|product|list|cart|orders...]     (default: all five)
#
# Settings: PROFILE_SECONDS (5), PROFILE_TOP (25 functions), PROFILE_OUT (a directory to keep the
# callgrind files in; default: the temporary directory, removed at the end), MS_BUILD_DIR.
set -euo pipefail

ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

SECONDS_PER_CASE="${PROFILE_SECONDS:-5}"
TOP="${PROFILE_TOP:-25}"

# start_callgrind NAME SVC PORT OUT: SVC (bench-hello when empty) on PORT under callgrind,
# dumping to OUT.<pid>; its pid goes last in PIDS. Waits until it answers.
start_callgrind()
{
    local name="$1" svc="$2" port="$3" envs=() pid
    if [[ -n $svc ]]; then
        mapfile -t envs < <(service_env "$svc" "$port")
    else
        envs=("PORT=$port")
    fi
    env "${envs[@]}" THREADS=2 valgrind --tool=callgrind --callgrind-out-file="$4.%p" \
        "$([[ -n $svc ]] && ms_service_bin "$svc" || echo "$MS_BUILD_DIR/bench/bench-hello")" \
        >"$T/valgrind-$name.log" 2>&1 &
    pid=$!
    PIDS+=("$pid")
    ms_wait_url "http://127.0.0.1:$port$([[ -n $svc ]] && echo /ready || echo /)" 60 "$pid" ||
        die "$name under callgrind did not get ready: $(tail -n 5 "$T/valgrind-$name.log")"
}

# measure NAME PID URL WRK_ARG...: a warm-up, then counters zeroed, SECONDS_PER_CASE of load and
# a dump named NAME; stops PID. Prints the number of requests.
measure()
{
    local name="$1" pid="$2" url="$3" requests
    shift 3
    # warm-up: connections, caches, first-use allocations
    wrk -t 1 -c 4 -d 1s "$@" "$url" >/dev/null 2>&1
    callgrind_control -z "$pid" >/dev/null 2>&1
    requests="$(BENCH_USER="$BENCH_USER" BENCH_PRODUCTS="$PRODUCTS" wrk -t 1 -c 4 \
        -d "${SECONDS_PER_CASE}s" "$@" "$url" |
        awk '/ requests in / { print $1 }')"
    callgrind_control --dump="$name" "$pid" >/dev/null 2>&1
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$requests"
}

# report NAME DIR PID REQUESTS: instructions per request, and the TOP functions by inclusive
# cost per request, from the dump measure asked for.
report()
{
    local name="$1" requests="$4" out ir
    # the dump made on request is the file with the highest part number
    out="$(find "$2" -maxdepth 1 -name "callgrind.$name.$3*" | sort -V | grep -v "\.$3\$" | tail -n 1)"
    [[ -n $out && -n $requests ]] || die "no callgrind dump or no request count for $name"
    ir="$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')"
    printf '\n==== %s: %s requests, %s instructions, %.0f instructions per request ====\n' \
        "$name" "$requests" "$ir" "$(awk -v i="$ir" -v r="$requests" 'BEGIN { print i / r }')"
    echo "(inclusive, per request; $out)"
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null |
        awk -v r="$requests" -v top="$TOP" -v root="$ROOT" '
            /^[ 0-9,]+ \([ 0-9.]+%\) / && !/PROGRAM TOTALS/ {
                n = $1; gsub(",", "", n)
                fn = $0; sub(/^[ 0-9,]+ \([ 0-9.]+%\) +/, "", fn); sub(/ \[.*$/, "", fn)
                sub("^" root "/", "", fn)
                if (fn ~ /clone.S|start_thread|^\?\?\?:0x/ || seen[fn]++) next
                if (shown++ < top) printf "%10.0f  %s\n", n / r, fn
            }'
}

# profile_case NAME: one case under callgrind; prints its summary.
profile_case()
{
    local name="$1" svc path port pid wrk_args=() requests dir
    case $name in
    hello) svc="" path="/" ;;
    product) svc=product path="/products/1" ;;
    list) svc=product path="/products?limit=20" ;;
    cart) svc=cart path="/cart/$CART_ID" ;;
    orders) svc=order path="" wrk_args=(-s "$ROOT/bench/order.lua") ;;
    *) die "unknown case $name (hello, product, list, cart, orders)" ;;
    esac
    dir="${PROFILE_OUT:-$T}"
    mkdir -p "$dir"
    ms_free_port port
    start_callgrind "$name" "$svc" "$port" "$dir/callgrind.$name"
    pid="${PIDS[-1]}"
    [[ $name == orders ]] && restock
    requests="$(measure "$name" "$pid" "http://127.0.0.1:$port$path" "${wrk_args[@]}")"
    report "$name" "$dir" "$pid" "$requests"
}

main()
{
    local cases=("$@") name
    ((${#cases[@]})) || cases=(hello product list cart orders)
    command -v valgrind >/dev/null || die "valgrind is not installed (scripts/install-deps.sh installs it)"
    [[ -x $MS_BUILD_DIR/bench/bench-hello ]] || die "build first (make): no $MS_BUILD_DIR/bench/bench-hello"
    begin
    start_stack
    prepare_data
    for name in "${cases[@]}"; do
        profile_case "$name"
    done
}

main "$@"

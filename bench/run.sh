#!/usr/bin/env bash
# `make bench`: builds the suite (RelWithDebInfo, the build make up runs), starts its own stack
# (scripts/up.sh: PostgreSQL, Redis, the services) and the two ceilings (bench-hello, a bare
# libmicrohttpd server with common/src/server.c's daemon options, and Debian's nginx
# `return 200`) on free loopback ports in a temporary directory, and prints one table measured
# in this one run: requests/s, p50 and p99 of each endpoint with its ratio to the hello-world
# ceiling, every service's RSS idle and after the load, and its time from exec to /ready = 200,
# each next to its target. Rounds interleave the cases, so noise from the neighbours spreads over
# all of them; the table shows medians over the rounds. Everything is stopped by PID at the end.
#
# Settings: BENCH_SECONDS (10 per case and round), BENCH_ROUNDS (3), BENCH_CONNECTIONS (32, the
# GETs), BENCH_ORDER_CONNECTIONS ("8 32": a row each), BENCH_WRK_THREADS (2), BENCH_CASES (some of
# hello nginx product list cart orders8 orders32 ...; default all), BENCH_NO_BUILD=1
# (use MS_BUILD_DIR as it is), BENCH_PG_FAST=1 (PostgreSQL without fsync; default: durable, as
# make up runs it), BENCH_KEEP=1 (keep the temporary directory).
set -euo pipefail

ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"

SECONDS_PER_CASE="${BENCH_SECONDS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
ORDER_CONNECTIONS="${BENCH_ORDER_CONNECTIONS:-8 32}"
WRK_THREADS="${BENCH_WRK_THREADS:-2}"
CASES="${BENCH_CASES:-}"
# ---- measuring -----------------------------------------------------------------------------

# Prints "rps p50_ms p99_ms errors" from wrk --latency output in file $1; errors are non-2xx
# answers plus socket errors.
parse_wrk()
{
    awk '
        function ms(v) {
            if (v ~ /us$/) return v / 1000
            if (v ~ /ms$/) return v + 0
            if (v ~ /s$/) return v * 1000
            return v
        }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { errors += $NF }
        /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
        END {
            if (rps == "") exit 1
            printf "%.1f %.3f %.3f %d\n", rps, p50, p99, errors
        }' "$1"
}

# run_case NAME CONNECTIONS URL [WRK_ARGS...]: one wrk run, its figures appended to results:
# name rps p50 p99 errors cpu_us (the CPU time every server process used, per request).
run_case()
{
    local name="$1" conns="$2" url="$3" out figures t0 t1 rps
    shift 3
    if [[ -n $CASES && " $CASES " != *" $name "* ]]; then
        return 0
    fi
    out="$T/wrk-$name-$ROUND.out"
    t0="$(server_cpu_ticks)"
    wrk -t "$WRK_THREADS" -c "$conns" -d "${SECONDS_PER_CASE}s" --timeout 10s --latency "$@" \
        "$url" >"$out" 2>&1 || die "wrk failed for $name: $(cat "$out")"
    t1="$(server_cpu_ticks)"
    figures="$(parse_wrk "$out")" || die "cannot read wrk's output for $name: $(cat "$out")"
    read -r rps _ <<<"$figures"
    figures+=" $(awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v r="$rps" -v s="$SECONDS_PER_CASE" \
        'BEGIN { printf "%.0f", (r > 0 ? d / hz * 1e6 / (r * s) : 0) }')"
    echo "$name $figures" >>"$T/results"
    printf '  round %d %-14s %s\n' "$ROUND" "$name" "$figures"
}

run_rounds()
{
    local c
    : >"$T/results"
    for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
        run_case hello "$CONNECTIONS" "http://127.0.0.1:$HELLO_PORT/"
        run_case nginx "$CONNECTIONS" "http://127.0.0.1:$NGINX_PORT/"
        run_case product "$CONNECTIONS" "$(ms_service_url product)/products/1"
        run_case list "$CONNECTIONS" "$(ms_service_url product)/products?limit=20"
        run_case cart "$CONNECTIONS" "$(ms_service_url cart)/cart/$CART_ID"
        for c in $ORDER_CONNECTIONS; do
            restock
            BENCH_USER="$BENCH_USER" BENCH_PRODUCTS="$PRODUCTS" run_case "orders$c" "$c" \
                "$(ms_service_url order)" -s "$ROOT/bench/order.lua"
        done
    done
}

# Prints "VmRSS VmHWM private" (kB) of process $1: its RSS, its peak RSS, and the part of its RSS
# that is its own (the rest is pages of shared libraries, counted in every process mapping them).
rss_of()
{
    local private
    private="$(awk '/^Private_(Clean|Dirty):/ { p += $2 } END { print p + 0 }' "/proc/$1/smaps_rollup")"
    awk -v p="$private" '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { print r + 0, h + 0, p }' \
        "/proc/$1/status"
}

record_rss()
{
    local svc pid
    for svc in $(ms_services); do
        pid="$(ms_service_pid "$svc")" || die "$svc is not running"
        echo "$svc $(rss_of "$pid")" >>"$T/rss-$1"
    done
}

# Time from exec to /ready = 200 of a second instance of each service on a free port, against
# the running PostgreSQL and Redis (migrations already applied), ROUNDS times each.
measure_ready()
{
    local svc i port ms envs
    for svc in $(ms_services); do
        for ((i = 1; i <= ROUNDS; i++)); do
            ms_free_port port
            mapfile -t envs < <(service_env "$svc" "$port")
            ms="$(env "${envs[@]}" "$MS_BUILD_DIR/bench/bench-ready" "$port" 5000 \
                "$(ms_service_bin "$svc")" 2>>"$T/ready.log")" || ms=timeout
            echo "$svc $ms" >>"$T/ready"
        done
    done
}

# ---- the table -----------------------------------------------------------------------------

# median of the numbers on stdin
median()
{
    sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# column CASE FIELD: the median of field FIELD (2 rps, 3 p50, 4 p99) of CASE's rounds.
column()
{
    awk -v c="$1" -v f="$2" '$1 == c { print $f }' "$T/results" | median
}

errors_of()
{
    awk -v c="$1" '$1 == c { n += $5 } END { print n + 0 }' "$T/results"
}

print_endpoints()
{
    local hello name label rps p50 p99 ratio target verdict c
    hello="$(column hello 2)"
    printf '\n%-40s %9s %8s %8s %9s %8s %7s  %s\n' endpoint "req/s" "p50 ms" "p99 ms" "vs hello" \
        "CPU us" errors "target: verdict"
    row()
    {
        name="$1" label="$2" target="$3" verdict="$4"
        rps="$(column "$name" 2)" p50="$(column "$name" 3)" p99="$(column "$name" 4)"
        ratio="$(awk -v a="$rps" -v b="$hello" 'BEGIN { if (b + 0 > 0) printf "%.0f %%", 100 * a / b; else print "-" }')"
        if [[ $rps == - ]]; then
            return 0 # not run (BENCH_CASES)
        fi
        printf '%-40s %9.0f %8.2f %8.2f %9s %8s %7s  %s\n' "$label" "$rps" "$p50" "$p99" "$ratio" \
            "$(column "$name" 6)" "$(errors_of "$name")" "$target${verdict:+: $verdict}"
    }
    row hello "ceiling: MHD hello-world (server.c opts)" "the ceiling" ""
    row nginx "ceiling: nginx return 200" "the other ceiling" ""
    verdict="$(awk -v a="$(column product 2)" -v b="$hello" 'BEGIN { print (a >= 0.5 * b) ? "met" : "NOT MET" }')"
    row product "GET /products/{id} (Redis cache)" ">= 50 % of hello" "$verdict"
    row list "GET /products?limit=20 (Redis cache)" "-" ""
    row cart "GET /cart/{id} (3 lines, enriched)" "-" ""
    for c in $ORDER_CONNECTIONS; do
        verdict="$(awk -v r="$(column "orders$c" 2)" -v p="$(column "orders$c" 4)" \
            'BEGIN { print (r >= 1000 && p <= 50) ? "met" : "NOT MET" }')"
        row "orders$c" "POST /orders (saga, $c connections)" ">= 1000/s, p99 <= 50 ms" "$verdict"
    done
}

print_services()
{
    local svc idle end peak ready verdict own_idle own_end
    printf '\n%-14s %10s %10s %10s %10s  %s\n' service "RSS idle" "RSS end" "RSS peak" "ready ms" \
        "target: < 10 MB idle, < 40 MB under load, ready < 200 ms; (private MB idle/end)"
    for svc in $(ms_services); do
        read -r idle own_idle < <(awk -v s="$svc" '$1 == s { print $2, $4 }' "$T/rss-idle")
        read -r end peak own_end < <(awk -v s="$svc" '$1 == s { print $2, $3, $4 }' "$T/rss-end")
        ready="$(awk -v s="$svc" '$1 == s && $2 != "timeout" { print $2 }' "$T/ready" | median)"
        verdict="$(awk -v i="$idle" -v p="$peak" -v r="$ready" 'BEGIN {
            bad = ""
            if (i >= 10 * 1024) bad = bad " idle"
            if (p >= 40 * 1024) bad = bad " load"
            if (r == "-" || r >= 200) bad = bad " ready"
            print bad == "" ? "met" : "NOT MET:" bad }')"
        printf '%-14s %7.1f MB %7.1f MB %7.1f MB %10s  %s (%.1f/%.1f)\n' "$svc" \
            "$(awk -v k="$idle" 'BEGIN { print k / 1024 }')" "$(awk -v k="$end" 'BEGIN { print k / 1024 }')" \
            "$(awk -v k="$peak" 'BEGIN { print k / 1024 }')" "$ready" "$verdict" \
            "$(awk -v k="$own_idle" 'BEGIN { print k / 1024 }')" "$(awk -v k="$own_end" 'BEGIN { print k / 1024 }')"
    done
}

# cache_hits: product's cache_requests_total{result="hit"} and {result="miss"} now.
cache_counts()
{
    curl -sS --max-time 5 "$(ms_service_url product)/metrics" |
        awk '/^cache_requests_total\{cache="product",result="(hit|miss)"\}/ { split($1, a, "result=\""); sub(/".*/, "", a[2]); n[a[2]] = $2 }
             END { printf "%d %d\n", n["hit"], n["miss"] }'
}

print_header()
{
    local cpu os
    cpu="$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
    os="$(. /etc/os-release && echo "$PRETTY_NAME")"
    echo
    echo "==== microshop bench: medians of $ROUNDS round(s) x ${SECONDS_PER_CASE} s per case ===="
    echo "machine  $cpu, $(nproc) cores, $os, Linux $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "build    $MS_BUILD_DIR ($(awk -F= '/^CMAKE_BUILD_TYPE:/ { print $2 }' "$MS_BUILD_DIR/CMakeCache.txt")), PostgreSQL $([[ $PG_FAST == 1 ]] && echo "without fsync (BENCH_PG_FAST=1)" || echo "durable (fsync on, as make up)")"
    echo "load     $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $WRK_THREADS threads, GETs $CONNECTIONS connections, POST /orders $ORDER_CONNECTIONS; straight to each service"
    echo "CPU us   CPU time of every server process (the service and what it calls, PostgreSQL, Redis; not wrk) per request"
}

main()
{
    local hits0 miss0 hits1 miss1
    command -v wrk >/dev/null || die "wrk is not installed (scripts/install-deps.sh installs it)"
    ms_nginx_bin >/dev/null || die "nginx is not installed (scripts/install-deps.sh installs it)"
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        ms_section "build ($MS_BUILD_DIR)"
        ms_build "$MS_BUILD_DIR" >/dev/null || die "the build failed"
    fi
    [[ -x $MS_BUILD_DIR/bench/bench-hello && -x $MS_BUILD_DIR/bench/bench-ready ]] ||
        die "$MS_BUILD_DIR has no bench/bench-hello or bench/bench-ready (build it first)"
    begin

    ms_section "starting the stack and the ceilings"
    start_stack
    start_ceilings
    prepare_data
    record_rss idle
    ms_section "time to ready ($ROUNDS per service)"
    measure_ready
    ms_section "load: $ROUNDS round(s)"
    read -r hits0 miss0 < <(cache_counts)
    run_rounds
    read -r hits1 miss1 < <(cache_counts)
    record_rss end

    print_header
    print_endpoints
    echo "         product cache during the load: $((hits1 - hits0)) hits, $((miss1 - miss0)) misses"
    print_services
}

main "$@"

#!/usr/bin/env bash
# The lost-answers benchmark of issue 12 (make bench runs it after bench/run.sh): a stack of its
# own on free loopback ports with a faultproxy in front of every dependency (MS_FAULTPROXY=1
# make up), checkouts by BENCH_LOST_CLIENTS (8) closed-loop clients after a warm-up, in
# BENCH_LOST_ROUNDS (8) rounds of a fault-free window and a window with BENCH_LOST_PERCENT (1) %
# of the answers of every PostgreSQL and Redis connection lost, BENCH_LOST_SECONDS (3) s each,
# interleaved so that the neighbours' load on a shared machine falls on both kinds alike; each
# key retried for up to 10 s. Prints a row per window, the two kinds pooled, the ratio per round
# and its median, the CPU time of the stack per checkout, and whether the targets are met (median
# throughput ratio >= 80 %, every key final within 10 s); exits 0 either way (the figures are the
# result), 1 only when it could not measure. About 60 s.
# BENCH_NO_BUILD=1: the binaries of MS_BUILD_DIR as they are; BENCH_PG_FAST=1: no fsync.
set -euo pipefail

ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$ROOT/bench/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../chaos/local/lib/native.sh
. "$ROOT/chaos/local/lib/native.sh"

main()
{
    local runsvdir_pid postmaster_pid pooler_pid
    command -v node >/dev/null || die "node (20 or newer) is needed"
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        ms_build "$MS_BUILD_DIR" >/dev/null || die "the build failed"
    fi
    begin
    ms_faultproxy_free_base || die "no free ports for the proxies"
    start_stack
    # the stack's process trees, for its CPU time: runit's (services, Redis, proxies, nginx),
    # PostgreSQL's, which pg_ctl starts on its own, and PgBouncer, which daemonizes
    runsvdir_pid="$(ms_runsvdir_pid)" || die "no runsvdir"
    postmaster_pid="$(head -n 1 "$MS_DATA_DIR/pg/data/postmaster.pid")" || die "no postmaster"
    pooler_pid="$(cat "$MS_DATA_DIR/pooler/pgbouncer.pid")" || die "no PgBouncer"
    jq -n --arg order "$(ms_service_url order)" --arg user "$(ms_service_url user)" \
        --arg inventory "$(ms_service_url inventory)" --argjson proxies "$(ms_faultproxy_json)" \
        --argjson seconds "${BENCH_LOST_SECONDS:-3}" --argjson rounds "${BENCH_LOST_ROUNDS:-8}" \
        --argjson clients "${BENCH_LOST_CLIENTS:-8}" --argjson loss "${BENCH_LOST_PERCENT:-1}" \
        --argjson roots "[$runsvdir_pid, $postmaster_pid, $pooler_pid]" \
        '{order: $order, user: $user, inventory: $inventory, proxies: $proxies, seconds: $seconds,
          rounds: $rounds, clients: $clients, lossPercent: $loss, budgetMs: 10000, attemptMs: 3000,
          target: {ratio: 0.8}, cpuRoots: $roots}' >"$T/config.json"
    node "$ROOT/bench/lost-answers.mjs" --config "$T/config.json"
    # stock was plentiful: an order that is not confirmed lost its way, not its stock
    echo "orders by status: $(psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d order -XAtq -F ' ' \
        -c "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM
            (SELECT status, count(*) AS n FROM orders GROUP BY 1) s")"
}

main "$@"

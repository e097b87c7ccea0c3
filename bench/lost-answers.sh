#!/usr/bin/env bash
# The lost-answers benchmark of issue 12 (make bench runs it after bench/run.sh): a stack of its
# own on free loopback ports with a faultproxy in front of every dependency (MS_FAULTPROXY=1
# make up), checkouts by BENCH_LOST_CLIENTS (8) closed-loop clients for BENCH_LOST_SECONDS (8) s
# fault-free, then as long with BENCH_LOST_PERCENT (1) % of the answers of every PostgreSQL and
# Redis connection lost; each key retried for up to 10 s. Prints the two rows and whether the
# targets are met (throughput >= 80 % of fault-free, every key final within 10 s); exits 0
# either way (the figures are the result), 1 only when it could not measure. About 35 s.
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
    command -v node >/dev/null || die "node (20 or newer) is needed"
    if [[ ${BENCH_NO_BUILD:-0} != 1 ]]; then
        ms_build "$MS_BUILD_DIR" >/dev/null || die "the build failed"
    fi
    begin
    ms_faultproxy_free_base || die "no free ports for the proxies"
    start_stack
    jq -n --arg order "$(ms_service_url order)" --arg user "$(ms_service_url user)" \
        --arg inventory "$(ms_service_url inventory)" --argjson proxies "$(ms_faultproxy_json)" \
        --argjson seconds "${BENCH_LOST_SECONDS:-8}" --argjson clients "${BENCH_LOST_CLIENTS:-8}" \
        --argjson loss "${BENCH_LOST_PERCENT:-1}" \
        '{order: $order, user: $user, inventory: $inventory, proxies: $proxies, seconds: $seconds,
          clients: $clients, lossPercent: $loss, budgetMs: 10000, attemptMs: 3000,
          target: {ratio: 0.8}}' >"$T/config.json"
    node "$ROOT/bench/lost-answers.mjs" --config "$T/config.json"
    # stock was plentiful: an order that is not confirmed lost its way, not its stock
    echo "orders by status: $(psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d order -XAtq -F ' ' \
        -c "SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM
            (SELECT status, count(*) AS n FROM orders GROUP BY 1) s")"
}

main "$@"

#!/usr/bin/env bash
# The local chaos experiments, short (chaos/local/run.sh --short: every experiment with shorter
# windows and a 20 s combined run, then the network experiments n1 to n6: lost PostgreSQL and
# Redis answers, a PostgreSQL blackhole, Redis latency, a reset storm, notification cut off from
# Redis) on a stack of their own on free loopback ports in a temporary directory, kept for the
# checks that follow; every verdict must pass. Then that the runner fails when it should:
#   - without the supervisor for one instance (runit told `sv once`: run, but do not restart),
#     experiment 1 fails for that instance, and for no other;
#   - with invariants broken behind the shop's back in PostgreSQL (an order without reservation,
#     stock reserved that no reservation holds, an order backordered while its stock is there and
#     announced as confirmed, its reservation still held, a key left in progress), --check fails,
#     naming each; before, it passes.
# scripts/down.sh stops the stack (also from the EXIT trap). About 2.5 minutes.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
RUN="$ROOT/chaos/local/run.sh"
T=""
ENV_FILE=""
START=$SECONDS
# shellcheck source-path=SCRIPTDIR source=lib/chaos.sh
. "$ROOT/tests/system/lib/chaos.sh"

cleanup()
{
    local rc=$?
    trap - EXIT
    if [[ -n $ENV_FILE && -f $ENV_FILE ]]; then
        (
            # shellcheck disable=SC1090 # written by run.sh --keep
            . "$ENV_FILE"
            bash "$ROOT/scripts/down.sh" >/dev/null 2>&1 || true
        )
        rm -rf "$(dirname "$ENV_FILE")"
    fi
    if [[ -n $T ]]; then
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT

# runner OUT ARGS...: runs chaos/local/run.sh against the kept stack; its output in OUT.
runner()
{
    local out="$1"
    shift
    (
        # shellcheck disable=SC1090 # written by run.sh --keep
        . "$ENV_FILE"
        bash "$RUN" --use-running "$@"
    ) >"$out" 2>&1
}

# The invariants a lost answer breaks (issue 12), each planted behind the shop's back: an order
# backordered while its stock is plentiful, an order.confirmed event for it, its reservation still
# held, a key left in progress an hour ago; --check must name every one.
plant_outcomes()
{
    local id rc=0 name
    id="$(cat /proc/sys/kernel/random/uuid)"
    (
        # shellcheck disable=SC1090 # written by run.sh --keep
        . "$ENV_FILE"
        psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d order -XAtq -v ON_ERROR_STOP=1 -c "
            INSERT INTO orders (id, user_id, email, status, total_cents)
                VALUES ('$id', 1, 'planted@example.com', 'backordered', 100);
            INSERT INTO order_items (order_id, product_id, name, quantity, unit_price_cents)
                VALUES ('$id', 2, 'planted', 1, 100);
            INSERT INTO outbox (stream, fields)
                VALUES ('planted', jsonb_build_object('type', 'order.confirmed', 'order_id', '$id'));
            INSERT INTO idempotency_keys (key, request_hash, status, created_at)
                VALUES ('planted-$id', 'x', 'in_progress', now() - interval '1 hour')" &&
            psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d inventory -XAtq -v ON_ERROR_STOP=1 -c "
            INSERT INTO reservations (id, status) VALUES ('$id', 'held')"
    ) || fail "could not plant the outcomes"
    runner "$T/check3.log" --check || rc=$?
    ((rc == 1)) || fail "the planted outcomes were not caught (exit $rc): $(cat "$T/check3.log")"
    for name in 'order left unconfirmed while its stock exists' \
        'confirmed event for an order that is not confirmed' \
        "reservation held past its order's outcome" 'key without a final answer in the database'; do
        grep -q "violated: .*$name" "$T/check3.log" || fail "not caught: $name: $(cat "$T/check3.log")"
    done
    ok "planted outcomes: $(grep -oE '(outcomes|events|reservations held|keys in progress)[^;]*' "$T/check3.log" | tr '\n' ';')"
}

# run.sh --short --keep: every verdict PASS; its stack stays up for what follows (ENV_FILE).
short_run()
{
    local rc=0 verdicts id
    MS_UP_NO_BUILD=1 MS_BUILD_DIR="$BIN_DIR" bash "$RUN" --short --keep >"$T/short.log" 2>&1 || rc=$?
    ENV_FILE="$(sed -n 's/^chaos: the stack keeps running, its settings in \(.*\); stop it with:$/\1/p' "$T/short.log")"
    if ((rc != 0)); then
        grep -E '^(FAIL|chaos:)' "$T/short.log" >&2 || tail -n 40 "$T/short.log" >&2
        fail "chaos/local/run.sh --short failed (exit $rc)"
    fi
    [[ -f $ENV_FILE ]] || fail "run.sh --keep did not say where the stack's settings are: $(tail -n 5 "$T/short.log")"
    verdicts="$(grep -cE '^PASS ' "$T/short.log")" || true
    grep -q '^FAIL ' "$T/short.log" && fail "a verdict failed, yet run.sh exited 0"
    for id in '1 kill order' '1 kill gateway' '2 gateway 504' '2 cart degrades' '3 breaker opens' \
        '3 orders fail fast' '3 recovery' '4 products served' '4 carts 503 fast' '4 back within 2 s' \
        '5 unready while down' '5 no restart' '5 no connection leak' '6 all delivered once' \
        'combined' 'invariants after combined' 'n1 answers lost' 'n1 throughput' 'n1 keys final' \
        'n1 proportional' 'invariants after n1' 'n2 answers lost' 'n2 keys final' 'invariants after n2' \
        'n3 answers in time' 'n3 back' 'n3 keys final' 'invariants after n3' 'n4 nothing fails' \
        'n4 latency bounded' 'invariants after n4' \
        'n5 resets' 'n5 keys final' 'invariants after n5' 'n6 orders go on' 'n6 notified after' \
        'invariants after n6'; do
        grep -q "^PASS  $id " "$T/short.log" || fail "no PASS verdict '$id': $(grep -E '^(PASS|FAIL)' "$T/short.log")"
    done
    ok "run.sh --short: $verdicts verdicts, all PASS ($(grep '^chaos: .* verdicts' "$T/short.log"))"
}

# No supervisor for cart: runit runs it but does not restart it, and experiment 1 says so.
no_supervisor_check()
{
    local svdir rc=0
    # shellcheck disable=SC1090 # written by run.sh --keep
    svdir="$(. "$ENV_FILE" && echo "$MS_DATA_DIR/sv/cart")"
    sv once "$svdir" >/dev/null || fail "sv once $svdir"
    runner "$T/nosup.log" --short --only 1 || rc=$?
    sv up "$svdir" >/dev/null || true
    ((rc == 1)) || fail "experiment 1 without a supervisor for cart exited $rc, not 1: $(grep -E '^(PASS|FAIL)' "$T/nosup.log")"
    grep -q '^FAIL  1 kill cart .*NOT ready within' "$T/nosup.log" ||
        fail "no FAIL verdict for cart left down: $(grep -E '^(PASS|FAIL)' "$T/nosup.log")"
    # a cart down for 5 s may also push the experiment's error ratio over its bound; nothing else
    if grep '^FAIL ' "$T/nosup.log" | grep -vE '^FAIL  1 (kill cart|error ratio) '; then
        fail "other verdicts failed too"
    fi
    ok "without its supervisor: $(grep '^FAIL  1 kill cart' "$T/nosup.log" | cut -c1-110)..."
}

# Planted invariant violations, behind the services' back: an order without its reservation
# and notification.
planted_order_check()
{
    local rc=0
    runner "$T/check0.log" --check || fail "--check on the stack as the run left it failed: $(cat "$T/check0.log")"
    (
        # shellcheck disable=SC1090 # written by run.sh --keep
        . "$ENV_FILE"
        psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d order -XAtq -c \
            "INSERT INTO orders (id, user_id, email, status, total_cents)
             VALUES (gen_random_uuid(), 1, 'planted@example.com', 'confirmed', 100)"
    ) || fail "could not plant an order"
    runner "$T/check1.log" --check || rc=$?
    if ((rc != 1)) || ! grep -q 'violated: .*order without its reservation committed' "$T/check1.log" ||
        ! grep -q 'lost or doubled notification' "$T/check1.log"; then
        fail "an order without reservation or notification was not caught (exit $rc): $(cat "$T/check1.log")"
    fi
    ok "planted order without reservation: $(grep -o 'violated: .*' "$T/check1.log")"
}

# Planted: stock reserved with no reservation behind it.
planted_stock_check()
{
    local rc=0
    (
        # shellcheck disable=SC1090 # written by run.sh --keep
        . "$ENV_FILE"
        psql -h 127.0.0.1 -p "$MS_PG_PORT" -U ms -d inventory -XAtq -c \
            "UPDATE stock SET reserved = reserved + 1 WHERE product_id = 1"
    ) || fail "could not plant reserved stock"
    runner "$T/check2.log" --check || rc=$?
    if ((rc != 1)) || ! grep -q 'violated: .*oversold or lost stock' "$T/check2.log"; then
        fail "reserved stock without a reservation was not caught (exit $rc): $(cat "$T/check2.log")"
    fi
    ok "planted reserved stock: $(grep -o 'stock: .*' "$T/check2.log")"
}

main()
{
    [[ -x $BIN_DIR/services/order/order ]] || fail "$BIN_DIR/services/order/order is not built"
    T="$(mktemp -d /tmp/ms-chaos-test.XXXXXX)"
    shellcheck -x "${BASH_SOURCE[0]}" "$RUN" || fail "shellcheck"
    short_run
    no_supervisor_check
    planted_order_check
    planted_stock_check
    plant_outcomes
    echo "chaos: all checks passed in $((SECONDS - START)) s"
}

main "$@"

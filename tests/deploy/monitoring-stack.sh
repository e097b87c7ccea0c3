# shellcheck shell=bash
# Starts the real suite for tests/deploy/monitoring.test.sh and collects what it exposes: PostgreSQL
# and Redis through scripts/pg.sh and scripts/redis.sh, then every service binary from
# $MS_BINARY_DIR, each on a free loopback port in a temporary directory, a little traffic so that
# lazily created series exist, and finally each service's /metrics in $STACK_DIR/metrics/<svc>.prom.
# Source it; it sets no shell options. stack_stop stops everything stack_start started, by PID.

STACK_SERVICES=(product user inventory cart notification order frontend)
STACK_DIR=""
STACK_PG_PORT=""
STACK_REDIS_PORT=""
declare -A STACK_PORT=()
declare -A STACK_PID=()
# shellcheck source-path=SCRIPTDIR source=../../scripts/stack.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/stack.sh"

# stack_launch NAME BINARY DB [NAME=VALUE...]: starts one instance on STACK_PORT[NAME] with the
# stack's settings, DATABASE_URL for database DB (none when empty), the URLs of every service
# and the extra settings given; output in $STACK_DIR/log/NAME.log, PID in STACK_PID[NAME].
stack_launch()
{
    local name="$1" bin="$2" db="$3" other upper
    shift 3
    [[ -x $bin ]] || {
        echo "error: $bin is not built (MS_BINARY_DIR=${MS_BINARY_DIR:-unset})" >&2
        return 1
    }
    local envs=("PORT=${STACK_PORT[$name]}" "BIND_ADDRESS=127.0.0.1" "ADMIN_ENABLED=true"
        "LOG_LEVEL=warn" "REDIS_URL=redis://127.0.0.1:$STACK_REDIS_PORT/0"
        "RESERVATION_REAP_INTERVAL_S=1")
    [[ -z $db ]] || envs+=("DATABASE_URL=postgresql://ms@127.0.0.1:$STACK_PG_PORT/$db")
    for other in "${STACK_SERVICES[@]}"; do
        upper="$(tr '[:lower:]' '[:upper:]' <<<"$other")"
        envs+=("${upper}_URL=http://127.0.0.1:${STACK_PORT[$other]}")
    done
    env -u DATABASE_URL "${envs[@]}" "$@" "$bin" >"$STACK_DIR/log/$name.log" 2>&1 </dev/null &
    STACK_PID[$name]=$!
}

# stack_start ROOT BINARY_DIR: starts PostgreSQL, Redis, the six services, the frontend and, as
# `make up` does, the product canary (STACK_PORT[product-v2]); fails on the first thing that
# does not come up (stack_stop still cleans up what did).
stack_start()
{
    local root="$1" bindir="$2" svc db
    STACK_DIR="$(mktemp -d /tmp/ms-monitoring.XXXXXX)"
    chmod 755 "$STACK_DIR" # the postgres user must reach the cluster directory below it
    mkdir -p "$STACK_DIR/log" "$STACK_DIR/metrics"
    ms_free_port STACK_PG_PORT || return 1
    ms_free_port STACK_REDIS_PORT || return 1
    for svc in "${STACK_SERVICES[@]}" product-v2; do
        ms_free_port "STACK_PORT[$svc]" || return 1
    done

    PG_FAST=1 bash "$root/scripts/pg.sh" start "$STACK_DIR/pg" "$STACK_PG_PORT" || return 1
    bash "$root/scripts/pg.sh" createdb "$STACK_DIR/pg" "$STACK_PG_PORT" \
        product order user inventory notification || return 1
    REDIS_FAST=1 bash "$root/scripts/redis.sh" start "$STACK_DIR/redis" "$STACK_REDIS_PORT" || return 1

    for svc in "${STACK_SERVICES[@]}"; do
        db="$svc"
        [[ $svc == cart || $svc == frontend ]] && db=""
        stack_launch "$svc" "$bindir/services/$svc/$svc" "$db" || return 1
    done
    stack_launch product-v2 "$bindir/services/product/product" product SERVICE_VERSION=v2 || return 1
    for svc in "${STACK_SERVICES[@]}" product-v2; do
        if ! stack_wait_ready "$svc" 60; then
            tail -n 20 "$STACK_DIR/log/$svc.log" >&2 || true
            return 1
        fi
    done
}

# stack_wait_ready SERVICE TIMEOUT_S: polls /ready until 200, failing early if the process died.
stack_wait_ready()
{
    local svc="$1" deadline=$((SECONDS + $2)) code
    while ((SECONDS < deadline)); do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
            "http://127.0.0.1:${STACK_PORT[$svc]}/ready" 2>/dev/null)" || true
        [[ $code == 200 ]] && return 0
        if ! kill -0 "${STACK_PID[$svc]}" 2>/dev/null; then
            echo "error: $svc (pid ${STACK_PID[$svc]}) exited before it was ready" >&2
            return 1
        fi
        sleep 0.2
    done
    echo "error: $svc did not answer /ready with 200 within $2 s" >&2
    return 1
}

# stack_call METHOD SERVICE PATH [BODY]: prints the HTTP status, keeps the body in $STACK_DIR/body.
stack_call()
{
    local args=(-s -o "$STACK_DIR/body" -w '%{http_code}' --max-time 10 -X "$1"
        "http://127.0.0.1:${STACK_PORT[$2]}$3")
    if [[ $# -ge 4 ]]; then
        args+=(-H 'content-type: application/json' --data "$4")
    fi
    curl "${args[@]}" || true
}

# stack_expect STATUS METHOD SERVICE PATH [BODY]: one call that must answer STATUS.
stack_expect()
{
    local want="$1" got
    shift
    got="$(stack_call "$@")"
    if [[ $got != "$want" ]]; then
        echo "error: $1 $2 $3 answered $got, expected $want: $(head -c 300 "$STACK_DIR/body")" >&2
        return 1
    fi
}

# Creates a user and prints its id.
traffic_user()
{
    local email="monitoring-$RANDOM@example.com" uid
    stack_expect 201 POST user /users "{\"email\":\"$email\",\"name\":\"Monitoring\"}" || return 1
    uid="$(sed -n 's/.*"id" *: *\([0-9]*\).*/\1/p' "$STACK_DIR/body")"
    [[ -n $uid ]] || {
        echo "error: no user id in $(cat "$STACK_DIR/body")" >&2
        return 1
    }
    echo "$uid"
}

# traffic_browse UID: the storefront, products (one missing), the user and their cart.
traffic_browse()
{
    stack_expect 200 GET user "/users/$1" || return 1
    stack_expect 200 GET frontend "/" || return 1
    stack_expect 200 GET product "/products/1" || return 1
    stack_expect 200 GET product "/products/1" || return 1
    stack_expect 200 GET product "/products?limit=2" || return 1
    stack_expect 404 GET product "/products/99999" || return 1
    stack_expect 200 POST cart "/cart/$1" '{"product_id":1,"quantity":2}' || return 1
    stack_expect 200 GET cart "/cart/$1" || return 1
}

# traffic_order UID: orders UID's cart, then sends the same order again (its idempotency key
# answers it from the stored result); prints the order's id.
traffic_order()
{
    local key="monitoring-$RANDOM$RANDOM" got order_id
    got="$(curl -s -o "$STACK_DIR/body" -w '%{http_code}' --max-time 10 -X POST \
        -H 'content-type: application/json' -H "Idempotency-Key: $key" \
        --data "{\"user_id\":$1}" "http://127.0.0.1:${STACK_PORT[order]}/orders")" || true
    [[ $got == 201 ]] || {
        echo "error: POST /orders answered $got: $(head -c 300 "$STACK_DIR/body")" >&2
        return 1
    }
    order_id="$(sed -n 's/.*"id" *: *"\([0-9a-f-]*\)".*/\1/p' "$STACK_DIR/body")"
    curl -s -o /dev/null --max-time 10 -X POST -H 'content-type: application/json' \
        -H "Idempotency-Key: $key" --data "{\"user_id\":$1}" \
        "http://127.0.0.1:${STACK_PORT[order]}/orders" || true
    echo "$order_id"
}

# traffic_notified ORDER_ID: the order and the stock it took, a reservation made and released,
# and the order's notification, which arrives through the stream (within 20 s).
traffic_notified()
{
    local deadline
    stack_expect 200 GET order "/orders/$1" || return 1
    stack_expect 200 GET inventory "/inventory/1" || return 1
    stack_expect 201 POST inventory /inventory/reservations \
        '{"reservation_id":"monitoring-r1","items":[{"product_id":2,"quantity":1}]}' || return 1
    stack_expect 200 POST inventory /inventory/reservations/monitoring-r1/release || return 1
    deadline=$((SECONDS + 20))
    while :; do
        stack_expect 200 GET notification "/notifications?order_id=$1" || return 1
        grep -q '"order_id"' "$STACK_DIR/body" && break
        if ((SECONDS >= deadline)); then
            echo "error: no notification for order $1 within 20 s" >&2
            return 1
        fi
        sleep 0.3
    done
}

# traffic_faults UID: injected aborts on product: the cart's product calls fail and are retried,
# so faults_injected_total and upstream_retries_total get series; then back to normal.
traffic_faults()
{
    stack_expect 200 PUT product /admin/faults '{"abort_status":503,"abort_percent":100}' || return 1
    stack_call GET cart "/cart/$1" >/dev/null
    stack_expect 200 PUT product /admin/faults '{"delay_ms":1,"delay_percent":100}' || return 1
    stack_call GET product "/products/2" >/dev/null
    stack_call DELETE product /admin/faults >/dev/null
}

# stack_traffic: a shopping flow and a few failures, so every labelled family has a series:
# a user, the catalog (cache miss then hit), a cart, an order and its replay, the notification,
# a reservation released, and injected faults that make the cart retry its product calls.
stack_traffic()
{
    local uid order_id
    uid="$(traffic_user)" || return 1
    traffic_browse "$uid" || return 1
    order_id="$(traffic_order "$uid")" || return 1
    traffic_notified "$order_id" || return 1
    traffic_faults "$uid"
}

# stack_collect: every service's /metrics into $STACK_DIR/metrics/<svc>.prom.
stack_collect()
{
    local svc
    # Gauges updated by background passes (reaper, outbox, stream) get one more chance to run.
    sleep 1.2
    for svc in "${STACK_SERVICES[@]}"; do
        curl -sf --max-time 10 "http://127.0.0.1:${STACK_PORT[$svc]}/metrics" \
            >"$STACK_DIR/metrics/$svc.prom" || {
            echo "error: GET /metrics on $svc failed" >&2
            return 1
        }
    done
}

# stack_stop ROOT: SIGTERM to each service by PID (SIGKILL after 10 s), then Redis and PostgreSQL
# through their scripts, then the temporary directory.
stack_stop()
{
    local root="$1" svc pid i
    for svc in "${!STACK_PID[@]}"; do
        kill -TERM "${STACK_PID[$svc]}" 2>/dev/null || true
    done
    for svc in "${!STACK_PID[@]}"; do
        pid="${STACK_PID[$svc]}"
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STACK_PID=()
    [[ -n $STACK_DIR && -d $STACK_DIR ]] || return 0
    bash "$root/scripts/redis.sh" stop "$STACK_DIR/redis" || true
    bash "$root/scripts/pg.sh" stop "$STACK_DIR/pg" || true
    rm -rf "$STACK_DIR"
    STACK_DIR=""
}

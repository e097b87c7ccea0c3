# shellcheck shell=bash
# What bench/run.sh and bench/profile.sh share: a stack of their own (scripts/up.sh on free
# loopback ports, data in $T/data), the ceilings, the data the cases read, and the teardown.
# Source it after scripts/lib.sh and scripts/stack.sh; it sets no shell options.

T=""
PIDS=()
STOCK=1000000

die()
{
    echo "bench: $*" >&2
    exit 1
}

# Makes the temporary directory $T and stops everything at exit.
begin()
{
    T="$(mktemp -d /tmp/ms-bench.XXXXXX)"
    chmod 755 "$T" # PostgreSQL runs as postgres, nginx's workers as nobody under root
    trap cleanup EXIT
}

# Stops what was started: our own processes by PID, the stack through scripts/down.sh.
cleanup()
{
    local rc=$? pid
    trap - EXIT
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $T && -d $T/data ]]; then
        bash "$ROOT/scripts/down.sh" >"$T/down.log" 2>&1 || cat "$T/down.log" >&2
    fi
    if [[ -n $T && ${BENCH_KEEP:-0} != 1 ]]; then
        rm -rf "$T"
    elif [[ -n $T ]]; then
        echo "bench: kept $T"
    fi
    exit "$rc"
}

# The stack (scripts/up.sh) on free ports, its data in $T/data.
start_stack()
{
    local var
    ms_stack_env "$T" "$MS_BUILD_DIR" || die "no free ports"
    export MS_ADMIN_ENABLED=false PG_FAST="${BENCH_PG_FAST:-0}"
    for var in HELLO_PORT NGINX_PORT; do
        ms_free_port "$var"
        export "${var?}"
    done
    bash "$ROOT/scripts/up.sh" >"$T/up.log" 2>&1 || {
        tail -n 30 "$T/up.log" >&2
        die "scripts/up.sh failed"
    }
}

# bench-hello and nginx return 200 on HELLO_PORT and NGINX_PORT.
start_ceilings()
{
    PORT="$HELLO_PORT" "$MS_BUILD_DIR/bench/bench-hello" >"$T/hello.log" 2>&1 &
    PIDS+=($!)
    mkdir -p "$T/nginx/tmp"
    sed "s/127\.0\.0\.1:8099;/127.0.0.1:$NGINX_PORT;/" "$ROOT/bench/nginx.conf" >"$T/nginx/nginx.conf"
    "$(ms_nginx_bin)" -p "$T/nginx/" -c "$T/nginx/nginx.conf" -e stderr -g 'daemon off;' \
        >"$T/nginx.log" 2>&1 &
    PIDS+=($!)
    ms_wait_url "http://127.0.0.1:$HELLO_PORT/" 10 || die "bench-hello did not answer"
    ms_wait_url "http://127.0.0.1:$NGINX_PORT/" 10 || die "nginx did not answer"
}

# call METHOD URL [BODY]: one request that must succeed; prints the body.
call()
{
    curl -sS -f --max-time 10 -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$2" ||
        die "$1 $2 failed"
}

restock()
{
    local id inv
    inv="$(ms_service_url inventory)"
    for id in $(seq 1 "$PRODUCTS"); do
        call PUT "$inv/inventory/$id" "{\"available\":$STOCK}" >/dev/null
    done
}

# The data the cases read: a user for the orders, a cart of three lines, warm caches.
prepare_data()
{
    local product cart body
    product="$(ms_service_url product)"
    cart="$(ms_service_url cart)"
    body="$(call GET "$product/products?limit=100")"
    PRODUCTS="$(grep -oE '"id":[0-9]+' <<<"$body" | wc -l)"
    ((PRODUCTS > 0)) || die "the catalog is empty"
    body="$(call POST "$(ms_service_url user)/users" \
        "{\"email\":\"bench-$$-$RANDOM@example.com\",\"name\":\"Bench\"}")"
    BENCH_USER="$(sed -nE 's/.*"id":([0-9]+).*/\1/p' <<<"$body")"
    [[ -n $BENCH_USER ]] || die "no user id in $body"
    CART_ID=424242
    call DELETE "$cart/cart/$CART_ID" >/dev/null
    for id in 1 2 3; do
        call POST "$cart/cart/$CART_ID" "{\"product_id\":$id,\"quantity\":1}" >/dev/null
    done
    call GET "$product/products/1" >/dev/null
    call GET "$product/products?limit=20" >/dev/null
    grep -q '"degraded":false' <<<"$(call GET "$cart/cart/$CART_ID")" || die "the cart is degraded"
    restock
}

# service_env NAME PORT: the environment scripts/up.sh gives service NAME, with PORT instead, one
# VAR=value a line: for a second instance of a service next to the stack.
service_env()
{
    local svc="$1" other db upper
    printf "%s\n" "PORT=$2" "SERVICE_NAME=$svc" LOG_LEVEL=info BIND_ADDRESS=127.0.0.1
    echo "REDIS_URL=redis://127.0.0.1:$MS_REDIS_PORT/0"
    db="$(ms_service_db "$svc")"
    if [[ -n $db ]]; then
        echo "DATABASE_URL=postgresql://ms@127.0.0.1:$MS_PG_POOLER_PORT/$db"
    fi
    for other in $(ms_services); do
        upper="$(tr '[:lower:]' '[:upper:]' <<<"$other")"
        echo "${upper}_URL=$(ms_service_url "$other")"
    done
}


# Prints the PIDs serving a bench: PostgreSQL (postmaster and backends), PgBouncer, Redis, every process of
# the stack (services, canary, gateway and their children) and of the ceilings; never wrk's.
server_pids()
{
    local pm f pid
    pm="$(head -n 1 "$T/data/pg/data/postmaster.pid" 2>/dev/null)" || pm=""
    for pid in $pm "$(cat "$T/data/redis/redis.pid" 2>/dev/null)" \
        "$(cat "$T/data/pooler/pgbouncer.pid" 2>/dev/null)" "${PIDS[@]}"; do
        [[ $pid =~ ^[0-9]+$ ]] || continue
        echo "$pid"
        pgrep -P "$pid" || true
    done
    for f in "$T"/data/run/*.pid; do
        [[ -f $f ]] || continue
        pid="$(<"$f")"
        echo "$pid"
        pgrep -P "$pid" || true
    done
}

# Prints the CPU time (clock ticks, user + system, all threads) used so far by server_pids.
server_cpu_ticks()
{
    local pid total=0 t
    for pid in $(server_pids | sort -u); do
        t="$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null)" || continue
        total=$((total + t))
    done
    echo "$total"
}

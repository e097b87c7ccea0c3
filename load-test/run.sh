#!/usr/bin/env bash
# `make load`: runs one load-test scenario (wrk/scenarios.lua) with wrk against the shop and prints
# requests/s, latency percentiles and the answers by status, expected ones marked.
#
#   load-test/run.sh [--scenario NAME] [--connections N] [--duration D] [--rate R]
#                    [--think MS] [--target gateway|native|URL] [--timeout D] [--stock N]
#                    [--no-restock]
#
# Every flag has an environment variable (for make load): LOAD_SCENARIO (mixed), LOAD_CONNECTIONS
# (16), LOAD_DURATION (10s), LOAD_RATE (0), LOAD_THINK_MS (0), LOAD_TARGET (gateway),
# LOAD_TIMEOUT (5s), LOAD_STOCK (1000000), LOAD_RESTOCK (1).
#
# Targets: `gateway` is make up's gateway (127.0.0.1:MS_GATEWAY_PORT, default 8080); `native`
# goes straight to the service a single-service scenario uses (browse: product, cart: cart, on
# make up's PRODUCT_PORT/CART_PORT); a URL is any gateway (compose, a cluster's edge, the
# Kubernetes Job's gateway Service). checkout and mixed cross services, and a wrk connection
# stays on one address, so they need a gateway that routes by path.
#
# Connections are virtual users: wrk runs one thread per connection, so each VU's requests and
# answers alternate. wrk 4.1 has no constant-rate mode (wrk2 is not in Debian): --rate R gives
# every VU a schedule of one request per N/R s, but a VU never has two requests out, so when
# answers take longer the achieved rate falls below R (both are printed) and the latencies are
# those of a closed loop (no coordinated-omission correction). Without --rate each VU sends its
# next request as soon as the answer is in (plus --think).
#
# Stock: the seed is 100 of each product, which a checkout load sells out in seconds. Before a
# scenario with checkout every product is restocked to --stock (PUT /inventory/{id}); a 409
# "sold out" answer to POST /orders is still counted as expected. --no-restock leaves stock.
#
# Exit status: 0 when every answer was expected and no socket error happened, 1 otherwise, 2 on
# bad usage or an unreachable target.
set -euo pipefail

HERE="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
# The wrk scripts: load-test/wrk/ in the repository; the Kubernetes Job mounts them from a
# ConfigMap and sets LOAD_SCRIPTS.
SCRIPTS="${LOAD_SCRIPTS:-$HERE/wrk}"
# In the repository, lib.sh knows make up's ports; the image of the Kubernetes Job has no lib.sh.
if [[ -f $HERE/../scripts/lib.sh ]]; then
    # shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
    . "$HERE/../scripts/lib.sh"
fi

SCENARIO="${LOAD_SCENARIO:-mixed}"
CONNECTIONS="${LOAD_CONNECTIONS:-16}"
DURATION="${LOAD_DURATION:-10s}"
RATE="${LOAD_RATE:-0}"
THINK_MS="${LOAD_THINK_MS:-0}"
TARGET="${LOAD_TARGET:-gateway}"
TIMEOUT="${LOAD_TIMEOUT:-5s}"
STOCK="${LOAD_STOCK:-1000000}"
RESTOCK="${LOAD_RESTOCK:-1}"

usage()
{
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
    exit 2
}

die()
{
    echo "load: $*" >&2
    exit 2
}

# The scenario names, from scenarios.lua's `    name = { ... },` lines.
scenario_names()
{
    sed -nE 's/^    ([a-z][a-z0-9_]*) = \{.*/\1/p' "$SCRIPTS/scenarios.lua"
}

# The flows (with their weights) of scenario $1, as scenarios.lua writes them.
scenario_flows()
{
    sed -nE "s/^    $1 = \\{ *(.*) *\\},?\$/\\1/p" "$SCRIPTS/scenarios.lua"
}

parse_args()
{
    while (($#)); do
        case $1 in
        -s | --scenario) SCENARIO="${2:?}" && shift ;;
        -c | --connections) CONNECTIONS="${2:?}" && shift ;;
        -d | --duration) DURATION="${2:?}" && shift ;;
        -r | --rate) RATE="${2:?}" && shift ;;
        --think) THINK_MS="${2:?}" && shift ;;
        -t | --target) TARGET="${2:?}" && shift ;;
        --timeout) TIMEOUT="${2:?}" && shift ;;
        --stock) STOCK="${2:?}" && shift ;;
        --no-restock) RESTOCK=0 ;;
        -h | --help) usage ;;
        *) echo "load: unknown argument '$1'" >&2 && usage ;;
        esac
        shift
    done
    scenario_names | grep -qx -- "$SCENARIO" ||
        die "unknown scenario '$SCENARIO'; scenarios: $(scenario_names | tr '\n' ' ')"
    if ! [[ $CONNECTIONS =~ ^[0-9]+$ ]] || ((CONNECTIONS < 1 || CONNECTIONS > 1000)); then
        die "connections must be 1..1000 (each is a virtual user and a wrk thread)"
    fi
    [[ $DURATION =~ ^[0-9]+[smh]?$ ]] || die "duration must look like 10s, 2m or 30"
    [[ $TIMEOUT =~ ^[0-9]+[smh]?$ ]] || die "timeout must look like 5s"
    [[ $RATE =~ ^[0-9]+([.][0-9]+)?$ ]] || die "rate must be a number of requests/s (0: unpaced)"
    [[ $THINK_MS =~ ^[0-9]+$ ]] || die "think must be milliseconds"
    if ! [[ $STOCK =~ ^[0-9]+$ ]] || ((STOCK > 1000000)); then
        die "stock must be 0..1000000"
    fi
}

# Sets BASE (where wrk sends), API (where run.sh reads products and restocks) and LABEL.
resolve_target()
{
    local service=""
    case $TARGET in
    gateway)
        BASE="http://127.0.0.1:${MS_GATEWAY_PORT:-8080}"
        API="$BASE"
        LABEL="$BASE (make up's gateway)"
        ;;
    native)
        case $SCENARIO in
        browse) service=product ;;
        cart) service=cart ;;
        *) die "scenario $SCENARIO crosses services, and a wrk connection stays on one address:" \
            "run it through a gateway (--target gateway or a URL); native runs browse and cart" ;;
        esac
        declare -F ms_service_url >/dev/null || die "--target native needs the repository's scripts/lib.sh"
        BASE="$(ms_service_url "$service")"
        API="$(ms_service_url product)"
        LABEL="$BASE (the $service service itself)"
        ;;
    http://* | https://*)
        BASE="${TARGET%/}"
        API="$BASE"
        LABEL="$BASE"
        ;;
    *) die "target must be gateway, native or an http(s):// URL, not '$TARGET'" ;;
    esac
}

# Prints the catalog's product ids, comma-separated.
product_ids()
{
    local body
    body="$(curl -sS -f --max-time 5 "$API/products?limit=100")" ||
        die "GET $API/products failed: is the shop running (make up) and the target right?"
    grep -oE '"id":[0-9]+' <<<"$body" | cut -d: -f2 | paste -sd, -
}

# PUT /inventory/{id} {"available":STOCK} for every product (through the gateway, or to the
# inventory service itself for the native target).
restock()
{
    local ids="$1" url id n=0
    url="$API"
    if [[ $TARGET == native ]]; then
        url="$(ms_service_url inventory)"
    fi
    for id in ${ids//,/ }; do
        curl -sS -f --max-time 5 -o /dev/null -X PUT -H 'Content-Type: application/json' \
            -d "{\"available\":$STOCK}" "$url/inventory/$id" || die "PUT $url/inventory/$id failed"
        n=$((n + 1))
    done
    echo "restocked $n products to $STOCK each (PUT /inventory/{id})"
}

main()
{
    local ids out rc summary
    parse_args "$@"
    command -v wrk >/dev/null || die "wrk is not installed (scripts/install-deps.sh installs it)"
    resolve_target
    ids="$(product_ids)"
    [[ -n $ids ]] || die "the catalog at $API/products is empty"
    if [[ " $(scenario_flows "$SCENARIO") " == *" checkout = "* ]]; then
        if [[ $RESTOCK == 1 ]]; then
            restock "$ids"
        else
            echo "stock left as it is (--no-restock): 409 sold out answers are expected"
        fi
    fi

    echo "wrk: $CONNECTIONS threads x 1 connection, $DURATION, scenario $SCENARIO -> $BASE"
    out="$(mktemp)"
    rc=0
    LOAD_SCENARIO="$SCENARIO" LOAD_VUS="$CONNECTIONS" LOAD_RATE="$RATE" LOAD_THINK_MS="$THINK_MS" \
        LOAD_RUN="${LOAD_RUN:-$(date +%s)$$}" LOAD_PRODUCTS="$ids" LOAD_TARGET="$LABEL" \
        wrk -t "$CONNECTIONS" -c "$CONNECTIONS" -d "$DURATION" --timeout "$TIMEOUT" \
        -s "$SCRIPTS/microshop.lua" "$BASE" >"$out" 2>&1 || rc=$?
    summary="$(grep -m1 '^summary ' "$out" || true)"
    if [[ -z $summary ]]; then
        cat "$out" >&2
        rm -f "$out"
        die "wrk failed (exit $rc) before its report"
    fi
    sed -n '/^scenario  /,$p' "$out"
    rm -f "$out"
    if [[ $summary =~ unexpected=0\ socket_errors=0 ]]; then
        echo "load: ok: every answer was expected"
        return 0
    fi
    echo "load: FAIL: unexpected answers or socket errors (see above)" >&2
    return 1
}

main "$@"

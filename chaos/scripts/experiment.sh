#!/usr/bin/env bash
# A chaos experiment, run the way the principles of chaos engineering describe it:
#   1. steady-state hypothesis: of N requests to URL, at least P % succeed (2xx) — checked
#      first; if the system is not steady, nothing is injected;
#   2. the fault: kubectl apply -f MANIFEST (a Chaos Mesh, Litmus or Istio fault file);
#   3. wait DURATION seconds (measuring the success ratio meanwhile, for the record);
#   4. kubectl delete -f MANIFEST (also on Ctrl-C or any error), wait SETTLE seconds;
#   5. the hypothesis again, and the verdict.
#
#   chaos/scripts/experiment.sh [options] MANIFEST
#     --url URL             what the hypothesis requests (default http://localhost:8080/products?limit=1)
#     --requests N          requests per check (default 50)
#     --min-success P       success percentage the hypothesis needs, 0..100 (default 95)
#     --duration SECONDS    how long the fault stays (default 60)
#     --settle SECONDS      wait after removing it, before the last check (default 10)
#     --max-time SECONDS    curl's limit per request (default 2)
#     -n, --namespace NS    passed to kubectl (default ecommerce)
#     --dry-run             print the commands instead of running them
#     KUBECTL=...           the kubectl to run (default kubectl)
#
# Exit status: 0 the hypothesis held after the experiment (PASS), 1 it did not (FAIL),
# 2 usage error, 3 the system was not steady before (nothing was injected).
set -euo pipefail

URL='http://localhost:8080/products?limit=1'
REQUESTS=50
MIN_SUCCESS=95
DURATION_S=60
SETTLE_S=10
MAX_TIME_S=2
NAMESPACE=ecommerce
DRY_RUN=0
MANIFEST=
KUBECTL="${KUBECTL:-kubectl}"
INJECTED=0

usage()
{
    sed -n '2,22s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

die()
{
    echo "experiment: error: $*" >&2
    exit 2
}

parse_args()
{
    while (($#)); do
        case "$1" in
        --url) URL="${2:?}"; shift 2 ;;
        --requests) REQUESTS="${2:?}"; shift 2 ;;
        --min-success) MIN_SUCCESS="${2:?}"; shift 2 ;;
        --duration) DURATION_S="${2:?}"; shift 2 ;;
        --settle) SETTLE_S="${2:?}"; shift 2 ;;
        --max-time) MAX_TIME_S="${2:?}"; shift 2 ;;
        -n | --namespace) NAMESPACE="${2:?}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage ;;
        -*) echo "experiment: unknown option $1" >&2; usage ;;
        *)
            [[ -z $MANIFEST ]] || usage
            MANIFEST="$1"
            shift
            ;;
        esac
    done
    [[ -n $MANIFEST ]] || usage
    [[ -f $MANIFEST ]] || die "no such manifest: $MANIFEST"
    [[ $REQUESTS =~ ^[0-9]+$ && $REQUESTS -ge 1 ]] || die "--requests must be a positive integer"
    [[ $MIN_SUCCESS =~ ^[0-9]+$ && $MIN_SUCCESS -le 100 ]] || die "--min-success must be 0..100"
    [[ $DURATION_S =~ ^[0-9]+$ ]] || die "--duration must be whole seconds"
    [[ $SETTLE_S =~ ^[0-9]+$ ]] || die "--settle must be whole seconds"
    [[ $MAX_TIME_S =~ ^[0-9]+([.][0-9]+)?$ ]] || die "--max-time must be a number of seconds"
    [[ $URL =~ ^https?:// ]] || die "--url must be an http(s) URL"
}

# Sends REQUESTS requests to URL; prints the number of 2xx answers.
successes()
{
    local i code ok=0
    for ((i = 0; i < REQUESTS; i++)); do
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time "$MAX_TIME_S" "$URL" || true)"
        [[ $code == 2?? ]] && ok=$((ok + 1))
    done
    echo "$ok"
}

# hypothesis LABEL: checks the steady state; prints the ratio; returns 1 when it does not hold.
hypothesis()
{
    local ok
    ok="$(successes)"
    echo "experiment: [$1] $ok/$REQUESTS requests to $URL succeeded (hypothesis: >= $MIN_SUCCESS %)"
    ((ok * 100 >= MIN_SUCCESS * REQUESTS))
}

remove_fault()
{
    if ((INJECTED)); then
        INJECTED=0
        echo "experiment: removing the fault: $KUBECTL -n $NAMESPACE delete -f $MANIFEST"
        "$KUBECTL" -n "$NAMESPACE" delete -f "$MANIFEST" --ignore-not-found --wait=true || true
    fi
}

dry_run()
{
    echo "# experiment dry run: manifest $MANIFEST, namespace $NAMESPACE"
    echo "# steady state before: $REQUESTS x curl, >= $MIN_SUCCESS % 2xx, else exit 3 without injecting"
    echo "curl -s -o /dev/null -w '%{http_code}' --max-time $MAX_TIME_S '$URL'"
    echo "$KUBECTL -n $NAMESPACE apply -f $MANIFEST"
    echo "# wait ${DURATION_S}s, measuring the same success ratio meanwhile"
    echo "curl -s -o /dev/null -w '%{http_code}' --max-time $MAX_TIME_S '$URL'"
    echo "$KUBECTL -n $NAMESPACE delete -f $MANIFEST --ignore-not-found --wait=true"
    echo "# settle ${SETTLE_S}s, then the steady state again: PASS (exit 0) or FAIL (exit 1)"
    echo "curl -s -o /dev/null -w '%{http_code}' --max-time $MAX_TIME_S '$URL'"
}

main()
{
    parse_args "$@"
    if ((DRY_RUN)); then
        dry_run
        return 0
    fi
    command -v curl >/dev/null || die "curl is required"

    if ! hypothesis "before"; then
        echo "experiment: ABORTED: the system is not in its steady state; nothing was injected" >&2
        return 3
    fi

    trap remove_fault EXIT
    trap 'exit 130' INT TERM
    echo "experiment: injecting: $KUBECTL -n $NAMESPACE apply -f $MANIFEST"
    INJECTED=1
    "$KUBECTL" -n "$NAMESPACE" apply -f "$MANIFEST"

    local end=$((SECONDS + DURATION_S))
    hypothesis "during" || true
    while ((SECONDS < end)); do
        sleep 1
    done
    remove_fault
    sleep "$SETTLE_S"

    if hypothesis "after"; then
        echo "experiment: PASS: the steady state held after $MANIFEST"
        return 0
    fi
    echo "experiment: FAIL: the steady state did not come back after $MANIFEST" >&2
    return 1
}

main "$@"

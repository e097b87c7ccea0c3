#!/usr/bin/env bash
# Self-healing SLA: kills one pod of a Deployment and measures how long until the Deployment is
# fully ready again (as many Ready pods as replicas, none of them the killed one). Fails when
# that takes longer than the SLA.
#
#   chaos/scripts/pod-kill-sla.sh [options] DEPLOYMENT
#     -n, --namespace NS    namespace (default ecommerce)
#     --sla SECONDS         the recovery SLA (default 30)
#     --timeout SECONDS     stop waiting after this (default: SLA + 60)
#     --interval SECONDS    polling interval (default 1)
#     --dry-run             print the kubectl commands instead of running them
#     KUBECTL=...           the kubectl to run (default kubectl)
#
# Exit status: 0 recovered within the SLA, 1 recovered late or never, 2 usage or setup error
# (no such Deployment, not fully ready before the kill, no pod to kill).
set -euo pipefail

NAMESPACE=ecommerce
SLA_S=30
TIMEOUT_S=
INTERVAL_S=1
DRY_RUN=0
DEPLOYMENT=
KUBECTL="${KUBECTL:-kubectl}"

# Go templates (for kubectl, not the shell: hence single quotes), so the output is plain text.
# shellcheck disable=SC2016
SELECTOR_TEMPLATE='{{range $k, $v := .spec.selector.matchLabels}}{{$k}}={{$v}},{{end}}'
# One line per pod: name, then "terminating" or the status of its Ready condition.
PODS_TEMPLATE='{{range .items}}{{.metadata.name}} {{if .metadata.deletionTimestamp}}terminating{{else}}{{range .status.conditions}}{{if eq .type "Ready"}}{{.status}}{{end}}{{end}}{{end}}{{"\n"}}{{end}}'

usage()
{
    sed -n '2,16s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

die()
{
    echo "pod-kill-sla: error: $*" >&2
    exit 2
}

is_number()
{
    [[ $1 =~ ^[0-9]+([.][0-9]+)?$ ]]
}

parse_args()
{
    while (($#)); do
        case "$1" in
        -n | --namespace) NAMESPACE="${2:?}"; shift 2 ;;
        --sla) SLA_S="${2:?}"; shift 2 ;;
        --timeout) TIMEOUT_S="${2:?}"; shift 2 ;;
        --interval) INTERVAL_S="${2:?}"; shift 2 ;;
        --dry-run) DRY_RUN=1; shift ;;
        -h | --help) usage ;;
        -*) echo "pod-kill-sla: unknown option $1" >&2; usage ;;
        *)
            [[ -z $DEPLOYMENT ]] || usage
            DEPLOYMENT="$1"
            shift
            ;;
        esac
    done
    [[ -n $DEPLOYMENT ]] || usage
    [[ $SLA_S =~ ^[0-9]+$ ]] || die "--sla must be whole seconds, not '$SLA_S'"
    TIMEOUT_S="${TIMEOUT_S:-$((SLA_S + 60))}"
    [[ $TIMEOUT_S =~ ^[0-9]+$ ]] || die "--timeout must be whole seconds, not '$TIMEOUT_S'"
    is_number "$INTERVAL_S" || die "--interval must be a number of seconds, not '$INTERVAL_S'"
}

k()
{
    "$KUBECTL" -n "$NAMESPACE" "$@"
}

now_ms()
{
    echo $(($(date +%s%N) / 1000000))
}

# Prints the plan: every kubectl command the real run makes, in order.
dry_run()
{
    local q="'"
    echo "# pod-kill-sla dry run: namespace $NAMESPACE, deployment $DEPLOYMENT, SLA ${SLA_S}s, timeout ${TIMEOUT_S}s"
    echo "$KUBECTL -n $NAMESPACE get deployment $DEPLOYMENT -o go-template=$q$SELECTOR_TEMPLATE$q"
    echo "$KUBECTL -n $NAMESPACE get deployment $DEPLOYMENT -o jsonpath='{.spec.replicas}'"
    echo "$KUBECTL -n $NAMESPACE get pods -l <selector> -o go-template=$q$PODS_TEMPLATE$q"
    echo "$KUBECTL -n $NAMESPACE delete pod <a Ready pod> --wait=false"
    echo "# then, every ${INTERVAL_S}s until <replicas> other pods are Ready or ${TIMEOUT_S}s passed:"
    echo "$KUBECTL -n $NAMESPACE get pods -l <selector> -o go-template=$q$PODS_TEMPLATE$q"
}

# Prints the number of Ready, not terminating pods other than $2, from the pod lines in $1.
count_ready()
{
    local lines="$1" killed="$2" name state n=0
    while read -r name state; do
        [[ -n $name && $name != "$killed" && $state == True ]] && n=$((n + 1))
    done <<<"$lines"
    echo "$n"
}

# Reads the Deployment's pod selector and replica count into main's selector and replicas.
read_deployment()
{
    selector="$(k get deployment "$DEPLOYMENT" -o go-template="$SELECTOR_TEMPLATE")" ||
        die "cannot read deployment $DEPLOYMENT in namespace $NAMESPACE"
    selector="${selector%,}"
    [[ -n $selector ]] || die "deployment $DEPLOYMENT has no matchLabels selector"
    replicas="$(k get deployment "$DEPLOYMENT" -o jsonpath='{.spec.replicas}')"
    [[ $replicas =~ ^[0-9]+$ && $replicas -ge 1 ]] || die "deployment $DEPLOYMENT has '$replicas' replicas"
}

# The Deployment must be fully ready before the kill; sets main's victim to one Ready pod.
pick_victim()
{
    local pods ready
    pods="$(k get pods -l "$selector" -o go-template="$PODS_TEMPLATE")"
    ready="$(count_ready "$pods" "")"
    ((ready >= replicas)) || die "deployment $DEPLOYMENT is not fully ready before the kill ($ready/$replicas Ready)"
    victim="$(awk '$2 == "True" { print $1; exit }' <<<"$pods")"
    [[ -n $victim ]] || die "no Ready pod of $DEPLOYMENT to kill"
}

# await_recovery START_MS: polls until replicas pods other than the victim are Ready, setting
# main's ready and elapsed_ms; fails after TIMEOUT_S.
await_recovery()
{
    local pods deadline=$(($1 + TIMEOUT_S * 1000))
    while :; do
        pods="$(k get pods -l "$selector" -o go-template="$PODS_TEMPLATE")"
        ready="$(count_ready "$pods" "$victim")"
        elapsed_ms=$(($(now_ms) - $1))
        ((ready >= replicas)) && break
        if (($(now_ms) > deadline)); then
            echo "pod-kill-sla: FAIL: $DEPLOYMENT not fully ready after ${TIMEOUT_S}s ($ready/$replicas Ready)" >&2
            return 1
        fi
        sleep "$INTERVAL_S"
    done
}

main()
{
    parse_args "$@"
    if ((DRY_RUN)); then
        dry_run
        return 0
    fi

    local selector replicas victim ready start elapsed_ms secs
    read_deployment
    pick_victim
    echo "pod-kill-sla: killing pod $victim of deployment $DEPLOYMENT ($replicas replicas, selector $selector, SLA ${SLA_S}s)"
    start="$(now_ms)"
    k delete pod "$victim" --wait=false >/dev/null
    await_recovery "$start" || return 1

    secs="$(printf '%d.%03d' $((elapsed_ms / 1000)) $((elapsed_ms % 1000)))"
    if ((elapsed_ms > SLA_S * 1000)); then
        echo "pod-kill-sla: FAIL: $DEPLOYMENT recovered in ${secs}s, over the SLA of ${SLA_S}s" >&2
        return 1
    fi
    echo "pod-kill-sla: PASS: $DEPLOYMENT fully ready again ($ready/$replicas) in ${secs}s (SLA ${SLA_S}s)"
}

main "$@"

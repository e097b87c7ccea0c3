#!/usr/bin/env bash
# Brings the whole lab up on a local KIND cluster: the cluster (k8s/kind-cluster.yaml), the
# service images, Gateway API CRDs, Istio, metrics-server, Chaos Mesh, the monitoring stack and
# the shop, then waits until every rollout is done. Needs kind, kubectl, docker or podman, and
# (depending on the options) istioctl and helm. Re-running it is safe: each step is idempotent.
#
#   scripts/lab/kind-up.sh [--mesh sidecar|ambient|none] [--runtime docker|podman]
#                          [--no-build] [--no-chaos] [--no-monitoring] [--dry-run]
#
#   --mesh       Istio data plane: sidecars (default; installed with Istio CNI, so pods need no
#                NET_ADMIN), ambient (ztunnel + a waypoint), or no Istio at all
#   --runtime    what builds the images (default: docker if it answers, else podman)
#   --no-build   use the images already in the runtime
#   --dry-run    print every command instead of running it (nothing is touched)
#
# Versions (override through the environment): KIND_CLUSTER_NAME (microshop), ISTIO_VERSION,
# GATEWAY_API_VERSION, CHAOS_MESH_VERSION, KUBE_PROMETHEUS_STACK_VERSION,
# METRICS_SERVER_VERSION. Tear down with scripts/lab/kind-down.sh.
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)/lib.sh"

CLUSTER="${KIND_CLUSTER_NAME:-microshop}"
ISTIO_VERSION="${ISTIO_VERSION:-1.30.3}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.1}"
CHAOS_MESH_VERSION="${CHAOS_MESH_VERSION:-2.8.3}"
KUBE_PROMETHEUS_STACK_VERSION="${KUBE_PROMETHEUS_STACK_VERSION:-}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-}"
NAMESPACE=ecommerce
ROLLOUT_TIMEOUT=300s

MESH=sidecar
RUNTIME=""
BUILD=1
CHAOS=1
MONITORING=1
DRY_RUN=0

usage()
{
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit "${1:-0}"
}

# Runs a command, or with --dry-run prints it (shell-quoted, so it can be pasted) instead.
run()
{
    if ((DRY_RUN)); then
        printf '+'
        printf ' %q' "$@"
        printf '\n'
    else
        "$@"
    fi
}

# The same for a command that reads a literal from stdin (the first argument).
run_stdin()
{
    local input="$1"
    shift
    if ((DRY_RUN)); then
        printf '+'
        printf ' %q' "$@"
        printf ' <<<%q\n' "$input"
    else
        "$@" <<<"$input"
    fi
}

need()
{
    ((DRY_RUN)) && return 0
    command -v "$1" >/dev/null || ms_die "$1 is needed (${2:-see its documentation to install it})"
}

parse_args()
{
    while (($#)); do
        case "$1" in
        --mesh)
            [[ $# -ge 2 ]] || ms_die "--mesh needs a value"
            MESH="$2"
            shift
            ;;
        --mesh=*) MESH="${1#*=}" ;;
        --runtime)
            [[ $# -ge 2 ]] || ms_die "--runtime needs a value"
            RUNTIME="$2"
            shift
            ;;
        --runtime=*) RUNTIME="${1#*=}" ;;
        --no-build) BUILD=0 ;;
        --no-chaos) CHAOS=0 ;;
        --no-monitoring) MONITORING=0 ;;
        --dry-run) DRY_RUN=1 ;;
        -h | --help) usage 0 ;;
        *)
            echo "error: unknown option '$1'" >&2
            usage 2 >&2
            ;;
        esac
        shift
    done
    case "$MESH" in
    sidecar | ambient | none) ;;
    *) ms_die "--mesh must be sidecar, ambient or none (got '$MESH')" ;;
    esac
    if [[ -z $RUNTIME ]]; then
        if ((!DRY_RUN)) && command -v docker >/dev/null && docker info >/dev/null 2>&1; then
            RUNTIME=docker
        elif ((DRY_RUN)) || command -v podman >/dev/null; then
            RUNTIME=podman
        else
            ms_die "neither docker nor podman is available"
        fi
    fi
    case "$RUNTIME" in
    docker | podman) ;;
    *) ms_die "--runtime must be docker or podman (got '$RUNTIME')" ;;
    esac
    return 0
}

create_cluster()
{
    ms_section "KIND cluster $CLUSTER"
    need kind "https://kind.sigs.k8s.io/docs/user/quick-start/"
    need kubectl
    if [[ $RUNTIME == podman ]]; then
        export KIND_EXPERIMENTAL_PROVIDER=podman
    fi
    if ((!DRY_RUN)) && kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
        echo "cluster $CLUSTER exists; keeping it"
    else
        run kind create cluster --name "$CLUSTER" --config "$MS_ROOT/k8s/kind-cluster.yaml" --wait 120s
    fi
    run kubectl config use-context "kind-$CLUSTER"
}

# Builds localhost/microshop/<service>:latest from the root Dockerfile's target per service (and
# the wrk image of the load-test Jobs) and loads it into every node (kind load docker-image for
# docker; an archive for podman, which kind cannot read images from directly).
build_and_load()
{
    local svc image archive_dir
    ms_section "images"
    if [[ $RUNTIME == podman ]] && ((DRY_RUN)); then
        archive_dir="\$TMPDIR/microshop-images"
    elif [[ $RUNTIME == podman ]]; then
        archive_dir="$(mktemp -d)"
        # shellcheck disable=SC2064 # expand now: the path is fixed
        trap "rm -rf -- '$archive_dir'" EXIT
    fi
    for svc in $(ms_services) wrk; do
        image="localhost/microshop/$svc:latest"
        if ((BUILD)); then
            run "$RUNTIME" build --target "$svc" -t "$image" -f "$MS_ROOT/Dockerfile" "$MS_ROOT"
        fi
        if [[ $RUNTIME == docker ]]; then
            run kind load docker-image "$image" --name "$CLUSTER"
        else
            run podman save --format docker-archive -o "$archive_dir/$svc.tar" "$image"
            run kind load image-archive "$archive_dir/$svc.tar" --name "$CLUSTER"
        fi
    done
}

install_platform()
{
    ms_section "Gateway API $GATEWAY_API_VERSION, metrics-server"
    run kubectl apply --server-side -f \
        "https://github.com/kubernetes-sigs/gateway-api/releases/download/$GATEWAY_API_VERSION/standard-install.yaml"
    need helm "https://helm.sh/docs/intro/install/"
    run helm repo add metrics-server https://kubernetes-sigs.github.io/metrics-server/ --force-update
    # KIND's kubelets serve self-signed certificates.
    run helm upgrade --install metrics-server metrics-server/metrics-server --namespace kube-system \
        ${METRICS_SERVER_VERSION:+--version "$METRICS_SERVER_VERSION"} \
        --set 'args={--kubelet-insecure-tls}' --wait

    if [[ $MESH != none ]]; then
        ms_section "Istio $ISTIO_VERSION ($MESH mode)"
        need istioctl "https://istio.io/latest/docs/setup/getting-started/#download"
        if [[ $MESH == ambient ]]; then
            run istioctl install -y --set profile=ambient --set tag="$ISTIO_VERSION"
        else
            run istioctl install -y --set profile=default --set components.cni.enabled=true \
                --set tag="$ISTIO_VERSION"
        fi
    fi

    if ((CHAOS)); then
        ms_section "Chaos Mesh $CHAOS_MESH_VERSION"
        run helm repo add chaos-mesh https://charts.chaos-mesh.org --force-update
        # KIND nodes run containerd.
        run helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --namespace chaos-mesh \
            --create-namespace --version "$CHAOS_MESH_VERSION" \
            --set chaosDaemon.runtime=containerd \
            --set chaosDaemon.socketPath=/run/containerd/containerd.sock --wait
    fi

    if ((MONITORING)); then
        ms_section "monitoring (kube-prometheus-stack)"
        run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts \
            --force-update
        run helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
            --namespace monitoring --create-namespace \
            -f "$MS_ROOT/monitoring/k8s/kube-prometheus-stack-values.yaml" \
            ${KUBE_PROMETHEUS_STACK_VERSION:+--version "$KUBE_PROMETHEUS_STACK_VERSION"} --wait
    fi
}

# The shop first (k8s/overlays/kind), then the mesh layer, which labels the namespace for
# Istio; in sidecar mode the pods are restarted so each gets its sidecar. Ambient mode captures
# running pods, so it needs no restart.
deploy_shop()
{
    local kind name
    ms_section "the shop (namespace $NAMESPACE)"
    run kubectl apply -k "$MS_ROOT/k8s/overlays/kind"
    if [[ $MESH != none ]]; then
        run kubectl apply -k "$MS_ROOT/istio/$MESH"
        run kubectl apply -k "$MS_ROOT/istio/gateway-api"
        if [[ $MESH == sidecar ]]; then
            run kubectl -n "$NAMESPACE" rollout restart deployment statefulset
        fi
    fi
    if ((MONITORING)) && [[ -f $MS_ROOT/monitoring/k8s/kustomization.yaml ]]; then
        run kubectl apply -k "$MS_ROOT/monitoring/k8s"
    fi

    ms_section "waiting for rollouts"
    # The workloads, as the overlay renders them ("Deployment product", ...).
    while read -r kind name; do
        run kubectl -n "$NAMESPACE" rollout status "${kind,,}/$name" --timeout="$ROLLOUT_TIMEOUT"
    done < <(kubectl kustomize "$MS_ROOT/k8s/overlays/kind" |
        awk '/^kind: /{k=$2} /^metadata:/{m=1; next} m && /^  name: /{if (k=="Deployment"||k=="StatefulSet") print k, $2; m=0}')
}

main()
{
    parse_args "$@"
    ((DRY_RUN)) && echo "dry run: printing the commands, running none (mesh=$MESH runtime=$RUNTIME)"
    create_cluster
    build_and_load
    install_platform
    deploy_shop
    ms_section "done"
    if [[ $MESH != none ]]; then
        echo "shop:    curl http://localhost:8080/products/1"
    else
        echo "shop:    kubectl -n $NAMESPACE port-forward svc/product 3001  (no gateway without Istio)"
    fi
    if ((MONITORING)); then
        echo "grafana: kubectl -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80"
    fi
    if ((CHAOS)); then
        echo "chaos:   kubectl apply -f chaos/chaos-mesh/<experiment>.yaml"
    fi
}

main "$@"

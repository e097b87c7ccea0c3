#!/usr/bin/env bash
# Brings the whole lab up on a local KIND cluster: the cluster (k8s/kind-cluster.yaml), the
# service images, Gateway API CRDs, Istio (spans sent to Jaeger), metrics-server, Chaos Mesh and
# the Litmus operator, the monitoring stack, the tracing addons (istio/addons: Jaeger, Kiali) and
# the shop, then waits until every rollout is done. Needs kind, kubectl, docker or podman, and
# (depending on the options) istioctl and helm. Re-running it is safe: each step is idempotent.
#
#   scripts/lab/kind-up.sh [--mesh sidecar|ambient|none] [--runtime docker|podman]
#                          [--no-build] [--no-chaos] [--no-monitoring] [--dry-run] [--class DIR]
#
#   --mesh       Istio data plane: sidecars (default; installed with Istio CNI, so pods need no
#                NET_ADMIN), ambient (ztunnel + a waypoint), or no Istio at all
#   --runtime    what builds the images (default: docker if it answers, else podman)
#   --no-build   use the images already in the runtime
#   --dry-run    print every command instead of running it (nothing is touched)
#   --class DIR  a class on one cluster (docs/instructor/class-on-one-cluster.md): DIR is what
#                `make class-render ATTENDEES=... OUT=DIR` wrote. The cluster gets DIR/shared's
#                port mappings (attendee N's edge on host port 8080+N), Istio keeps each
#                namespace's VirtualServices and DestinationRules to that namespace, every
#                DIR/attendee-N is deployed in its namespace (with its access/ identity), and the
#                class's monitoring (DIR/shared) once. The cluster must be created with it.
#
# Versions (override through the environment): KIND_CLUSTER_NAME (microshop), ISTIO_VERSION,
# GATEWAY_API_VERSION, CHAOS_MESH_VERSION, LITMUS_VERSION, KUBE_PROMETHEUS_STACK_VERSION,
# METRICS_SERVER_VERSION. Tear down with scripts/lab/kind-down.sh.
#
# Images are tagged by content (the first 12 hex digits of the built image's ID): a rebuild that
# changes a service gives its Deployment a new image reference, so running this again rolls
# exactly the pods whose image changed (with :latest and IfNotPresent nothing would roll).
set -euo pipefail

# shellcheck source=scripts/lib.sh
. "$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)/lib.sh"

CLUSTER="${KIND_CLUSTER_NAME:-microshop}"
ISTIO_VERSION="${ISTIO_VERSION:-1.30.3}"
GATEWAY_API_VERSION="${GATEWAY_API_VERSION:-v1.6.1}"
CHAOS_MESH_VERSION="${CHAOS_MESH_VERSION:-2.8.3}"
LITMUS_VERSION="${LITMUS_VERSION:-3.18.0}"
KUBE_PROMETHEUS_STACK_VERSION="${KUBE_PROMETHEUS_STACK_VERSION:-}"
METRICS_SERVER_VERSION="${METRICS_SERVER_VERSION:-}"
NAMESPACE=ecommerce
# The material deployed: this repository's, or in a class an attendee's rendered tree (SHOP_ROOT)
# and the class's shared part (SHARED_ROOT).
CLASS_DIR=""
SHOP_ROOT="$MS_ROOT"
SHARED_ROOT="$MS_ROOT"
ROLLOUT_TIMEOUT=300s
# The OpenTelemetry provider Istio's Telemetry (istio/mesh/telemetry.yaml) names, and where it
# sends spans: the OTLP/gRPC port of the Jaeger of istio/addons/jaeger.yaml.
TRACING_PROVIDER=otel-tracing
TRACING_COLLECTOR=jaeger-collector.istio-system.svc.cluster.local
TRACING_PORT=4317
declare -A IMAGE_TAGS=()

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
        --class)
            [[ $# -ge 2 ]] || ms_die "--class needs the directory make class-render wrote"
            CLASS_DIR="$2"
            shift
            ;;
        -h | --help) usage 0 ;;
        *)
            echo "error: unknown option '$1'" >&2
            usage 2 >&2
            ;;
        esac
        shift
    done
    check_choices
}

# The mesh must be one we know; without --runtime, docker if it answers, else podman (a dry run
# needs neither, so it takes podman).
check_choices()
{
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
    if [[ -n $CLASS_DIR ]]; then
        [[ -f $CLASS_DIR/shared/k8s/kind-cluster.yaml ]] ||
            ms_die "--class $CLASS_DIR: no shared/k8s/kind-cluster.yaml (make class-render ATTENDEES=... OUT=$CLASS_DIR)"
        CLASS_DIR="$(cd -P -- "$CLASS_DIR" && pwd -P)"
        SHARED_ROOT="$CLASS_DIR/shared"
    fi
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
        run kind create cluster --name "$CLUSTER" --config "$SHARED_ROOT/k8s/kind-cluster.yaml" --wait 120s
    fi
    run kubectl config use-context "kind-$CLUSTER"
}

# The content tag of a built image: the first 12 hex digits of its ID (the digest of its
# config, so it changes whenever a layer does).
content_tag()
{
    local id
    if ((DRY_RUN)); then
        echo "CONTENT-ID"
        return 0
    fi
    id="$("$RUNTIME" image inspect --format '{{.Id}}' "$1")" || ms_die "no image $1 (build it, or drop --no-build)"
    id="${id#sha256:}"
    echo "${id:0:12}"
}

# Builds localhost/microshop/<service>:latest from the root Dockerfile's target per service (and
# the wrk image of the load-test Jobs), tags each service image by content
# (localhost/microshop/<service>:<content tag>) and loads that into every node (kind load
# docker-image for docker; an archive for podman, which kind cannot read images from directly).
# The wrk image keeps :latest (load-test/k8s names it; a Job is not rolled).
build_and_load()
{
    local svc image archive_dir tag
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
        if [[ $svc != wrk ]]; then
            tag="$(content_tag "$image")"
            IMAGE_TAGS[$svc]="$tag"
            run "$RUNTIME" tag "$image" "localhost/microshop/$svc:$tag"
            image="localhost/microshop/$svc:$tag"
        fi
        if [[ $RUNTIME == docker ]]; then
            run kind load docker-image "$image" --name "$CLUSTER"
        else
            run podman save --format docker-archive -o "$archive_dir/$svc.tar" "$image"
            run kind load image-archive "$archive_dir/$svc.tar" --name "$CLUSTER"
        fi
    done
}

# The Gateway API CRDs and metrics-server (for the HPAs), which every mode needs.
install_base()
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
}

# Istio in the chosen mode, and the tracing addons.
install_istio()
{
    [[ $MESH != none ]] || return 0
    ms_section "Istio $ISTIO_VERSION ($MESH mode)"
    need istioctl "https://istio.io/latest/docs/setup/getting-started/#download"
    # Spans go to Jaeger over OTLP/gRPC (the provider's default protocol); the Telemetry of
    # istio/mesh names the provider and sets the sampling.
    local tracing=(--set "meshConfig.extensionProviders[0].name=$TRACING_PROVIDER"
        --set "meshConfig.extensionProviders[0].opentelemetry.service=$TRACING_COLLECTOR"
        --set "meshConfig.extensionProviders[0].opentelemetry.port=$TRACING_PORT")
    if [[ -n $CLASS_DIR ]]; then
        # A class: an attendee's VirtualService or DestinationRule (the lab's faults, or one
        # they write) applies to the proxies of their own namespace only, whatever host it
        # names (Istio's MeshConfig defaults; without them each is exported to every namespace).
        tracing+=(--set 'meshConfig.defaultVirtualServiceExportTo[0]=.'
            --set 'meshConfig.defaultDestinationRuleExportTo[0]=.')
    fi
    if [[ $MESH == ambient ]]; then
        run istioctl install -y --set profile=ambient --set tag="$ISTIO_VERSION" "${tracing[@]}"
    else
        # Native sidecars (init containers that keep running): a Job's pod (Litmus'
        # experiment, the load tests) completes although its sidecar does not exit.
        run istioctl install -y --set profile=default --set components.cni.enabled=true \
            --set tag="$ISTIO_VERSION" --set values.pilot.env.ENABLE_NATIVE_SIDECARS=true \
            "${tracing[@]}"
    fi
    ms_section "tracing addons (Jaeger, Kiali)"
    run kubectl apply -k "$MS_ROOT/istio/addons"
}

# Chaos Mesh and the Litmus operator, unless --no-chaos.
install_chaos()
{
    ((CHAOS)) || return 0
    ms_section "Chaos Mesh $CHAOS_MESH_VERSION"
    run helm repo add chaos-mesh https://charts.chaos-mesh.org --force-update
    # KIND nodes run containerd.
    run helm upgrade --install chaos-mesh chaos-mesh/chaos-mesh --namespace chaos-mesh \
        --create-namespace --version "$CHAOS_MESH_VERSION" \
        --set chaosDaemon.runtime=containerd \
        --set chaosDaemon.socketPath=/run/containerd/containerd.sock --wait
    ms_section "Litmus operator $LITMUS_VERSION"
    # The operator and its CRDs only (no ChaosCenter); chaos/litmus holds the experiment.
    run kubectl apply -f "https://litmuschaos.github.io/litmus/litmus-operator-v$LITMUS_VERSION.yaml"
    run kubectl -n litmus rollout status deployment/chaos-operator-ce --timeout="$ROLLOUT_TIMEOUT"
}

# kube-prometheus-stack with the suite's values, unless --no-monitoring.
install_monitoring()
{
    ((MONITORING)) || return 0
    ms_section "monitoring (kube-prometheus-stack)"
    run helm repo add prometheus-community https://prometheus-community.github.io/helm-charts \
        --force-update
    run helm upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
        --namespace monitoring --create-namespace \
        -f "$MS_ROOT/monitoring/k8s/kube-prometheus-stack-values.yaml" \
        ${KUBE_PROMETHEUS_STACK_VERSION:+--version "$KUBE_PROMETHEUS_STACK_VERSION"} --wait
}

install_platform()
{
    install_base
    install_istio
    install_chaos
    install_monitoring
}

# The shop first (k8s/overlays/kind), then the mesh layer, which labels the namespace for
# Istio; in sidecar mode the pods are restarted so each gets its sidecar. Ambient mode captures
# running pods, so it needs no restart.
deploy_shop()
{
    local kind name
    ms_section "the shop (namespace $NAMESPACE)"
    run kubectl apply -k "$SHOP_ROOT/k8s/overlays/kind"
    set_content_images
    if [[ -f $SHOP_ROOT/access/attendee.yaml ]]; then
        run kubectl apply -f "$SHOP_ROOT/access/attendee.yaml"
    fi
    if ((CHAOS)); then
        # The experiment and its identity; the ChaosEngine (which starts the chaos) is the lab's.
        run kubectl apply -f "$SHOP_ROOT/chaos/litmus/rbac.yaml" -f "$SHOP_ROOT/chaos/litmus/pod-delete-experiment.yaml"
    fi
    if [[ $MESH != none ]]; then
        run kubectl apply -k "$SHOP_ROOT/istio/$MESH"
        run kubectl apply -k "$SHOP_ROOT/istio/gateway-api"
        if [[ $MESH == sidecar ]]; then
            run kubectl -n "$NAMESPACE" rollout restart deployment statefulset
        fi
    fi
    if ((MONITORING)) && [[ -z $CLASS_DIR && -f $MS_ROOT/monitoring/k8s/kustomization.yaml ]]; then
        run kubectl apply -k "$MS_ROOT/monitoring/k8s"
    fi

    ms_section "waiting for rollouts"
    # The workloads, as the overlay renders them ("Deployment product", ...).
    while read -r kind name; do
        run kubectl -n "$NAMESPACE" rollout status "${kind,,}/$name" --timeout="$ROLLOUT_TIMEOUT"
    done < <(kubectl kustomize "$SHOP_ROOT/k8s/overlays/kind" |
        awk '/^kind: /{k=$2} /^metadata:/{m=1; next} m && /^  name: /{if (k=="Deployment"||k=="StatefulSet") print k, $2; m=0}')
}

# A class: every attendee's shop in its namespace (attendee.env), then the class's monitoring.
deploy_class()
{
    local dir
    for dir in "$CLASS_DIR"/attendee-*/; do
        SHOP_ROOT="${dir%/}"
        NAMESPACE="$(sed -n 's/^NAMESPACE=//p' "$SHOP_ROOT/attendee.env")"
        deploy_shop
    done
    if ((MONITORING)); then
        ms_section "the class's monitoring"
        run kubectl apply -k "$SHARED_ROOT/monitoring/k8s"
    fi
}

# Points every container of the overlay that runs a service image at its content tag. kubectl
# apply leaves a field it did not change since its last apply alone, so re-running the overlay
# does not undo this, and an unchanged tag changes nothing (no roll).
set_content_images()
{
    local kind name container svc
    while read -r kind name container svc; do
        [[ -n ${IMAGE_TAGS[$svc]:-} ]] || continue
        run kubectl -n "$NAMESPACE" set image "${kind,,}/$name" \
            "$container=localhost/microshop/$svc:${IMAGE_TAGS[$svc]}"
    done < <(overlay_images)
}

# "Kind name container service" for each container of the kind overlay whose image is
# localhost/microshop/<service>:..., from the rendered YAML.
overlay_images()
{
    kubectl kustomize "$SHOP_ROOT/k8s/overlays/kind" |
        awk '/^kind: /{k=$2} /^metadata:/{m=1; next} m && /^  name: /{n=$2; m=0}
             /^      containers:/{c=1; next} c && /^      [a-z]/{c=0}
             c && /^      - /{svc=""} c && /^        image: localhost\/microshop\//{split($2, a, /[\/:]/); svc=a[3]}
             c && /^        name: / && svc != ""{print k, n, $2, svc; svc=""}'
}

main()
{
    parse_args "$@"
    ((DRY_RUN)) && echo "dry run: printing the commands, running none (mesh=$MESH runtime=$RUNTIME)"
    create_cluster
    build_and_load
    install_platform
    if [[ -n $CLASS_DIR ]]; then
        deploy_class
        ms_section "done"
        grep -h '^EDGE_URL=' "$CLASS_DIR"/attendee-*/attendee.env | sed 's/^EDGE_URL=/shop:    /'
        echo "check:   make lab-check ATTENDEES=... OUT=$CLASS_DIR    (the grid, promise x attendee)"
        return 0
    fi
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
    if [[ $MESH != none ]]; then
        echo "traces:  kubectl -n istio-system port-forward svc/tracing 16686:80"
        echo "graph:   kubectl -n istio-system port-forward svc/kiali 20001"
    fi
    echo "check:   make lab-check    (every promise of lab 7, one PASS/FAIL line each)"
    if ((CHAOS)); then
        echo "chaos:   kubectl apply -f chaos/chaos-mesh/<experiment>.yaml"
    fi
}

main "$@"

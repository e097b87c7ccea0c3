#!/usr/bin/env bash
# Checks the Kubernetes manifests (k8s/) and the KIND lab scripts (scripts/lab/) offline:
#   1. kustomize renders k8s/base and both overlays; every document validates (core kinds
#      through kubernetes-models plus unknown-field checks, custom resources through the CRDs
#      in tests/deploy/schemas/); k8s/kind-cluster.yaml has the shape kind expects;
#   2. cross-file checks (tests/deploy/lib/k8s-checks.mjs): Service selectors, named target
#      ports, ports against PORT and services/*/service.json, PDB/HPA targets, ServiceAccounts, probes,
#      Secrets against the PostgreSQL init script, security settings, shutdown timing;
#  2b. the load-test Jobs (load-test/k8s/<scenario>, tests/deploy/lib/load-checks.mjs): rendered
#      and validated the same way, and cross-checked against load-test/wrk, the Dockerfile's wrk
#      target, the Gateway's Service and the edge AuthorizationPolicy;
#   3. yamllint (tests/deploy/yamllint.yaml) over every YAML file in k8s/ istio/ chaos/ monitoring/
#      load-test/;
#   4. scripts/lab/*.sh: shellcheck, bash -n, and --dry-run for every mesh mode and runtime,
#      whose commands must cover every service and name only paths that exist;
#   5. typos planted in copies (a misspelled field, a quoted number, a wrong port name, ...)
#      must each make the matching check fail (those of 2b too).
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)}"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

DEPLOY="$ROOT/tests/deploy"
CHECKS="$DEPLOY/lib/k8s-checks.mjs"
LOAD_CHECKS="$DEPLOY/lib/load-checks.mjs"
SCRATCH="$(mktemp -d)"
trap 'rm -rf -- "$SCRATCH"' EXIT
started=$SECONDS
failures=0

fail()
{
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

for tool in node kubectl yamllint shellcheck python3; do
    command -v "$tool" >/dev/null || ms_die "$tool is not installed (scripts/install-deps.sh installs it)"
done
[[ -d $DEPLOY/node_modules/kubernetes-models && -d $DEPLOY/node_modules/ajv ]] ||
    ms_die "tests/deploy/node_modules is missing: run (cd tests/deploy && npm ci)"

ms_section "1-2. render, validate and cross-check k8s/"
if ! node "$CHECKS" "$ROOT"; then
    fail "k8s/ has problems (listed above)"
fi
# The CLI on the rendered overlay, as a user would run it.
node "$DEPLOY/validate.mjs" k8s/overlays/kind || fail "validate.mjs k8s/overlays/kind"

ms_section "2b. load-test/k8s: render, validate and cross-check the load Jobs"
if ! node "$LOAD_CHECKS" "$ROOT"; then
    fail "load-test/k8s has problems (listed above)"
fi

ms_section "3. yamllint"
mapfile -t yaml_files < <(find k8s istio chaos monitoring load-test -type f \( -name '*.yaml' -o -name '*.yml' \) 2>/dev/null | sort)
if yamllint -s -c "$DEPLOY/yamllint.yaml" "${yaml_files[@]}"; then
    echo "yamllint: ${#yaml_files[@]} files clean"
else
    fail "yamllint"
fi

ms_section "4. lab scripts"
# dry_run_check ROOT: runs kind-up.sh/kind-down.sh of ROOT with --dry-run in every mode and
# checks what they would do. Prints problems, returns non-zero on any.
# dry_expect TEXT: the dry run in $out shows TEXT; else prints why and sets bad=1. Called from
# dry_run_mode, whose locals (out, mesh, runtime, bad) it reads and sets.
dry_expect()
{
    grep -qF -- "$1" <<<"$out" || { echo "mesh=$mesh runtime=$runtime: no '$1' in the dry run"; bad=1; }
}

# lab_syntax_check LAB: the lab scripts pass shellcheck and bash -n.
lab_syntax_check()
{
    local bad=0 f
    shellcheck -x "$1"/*.sh || { echo "shellcheck failed"; bad=1; }
    for f in "$1"/*.sh; do bash -n "$f" || { echo "bash -n $f failed"; bad=1; }; done
    return "$bad"
}

# dry_run_images ROOT: every image is built and loaded into the cluster (a docker runtime loads
# by content id, podman through an archive).
dry_run_images()
{
    local svc
    dry_expect "+ kind create cluster --name microshop --config $1/k8s/kind-cluster.yaml"
    dry_expect "+ kubectl apply -k $1/k8s/overlays/kind"
    for svc in $(ms_services) wrk; do
        dry_expect "+ $runtime build --target $svc -t localhost/microshop/$svc:latest"
        if [[ $runtime == docker ]]; then
            dry_expect "+ kind load docker-image localhost/microshop/$svc:$([[ $svc == wrk ]] && echo latest || echo CONTENT-ID) --name microshop"
        else
            dry_expect "+ kind load image-archive"
        fi
    done
}

# dry_run_mesh ROOT: Istio is installed in the chosen mode, or not at all with --mesh none.
dry_run_mesh()
{
    if [[ $mesh == none ]]; then
        if grep -q 'istioctl\|istio/' <<<"$out"; then
            echo "mesh=none still installs or applies Istio"
            bad=1
        fi
    else
        dry_expect "+ istioctl install -y --set profile=$([[ $mesh == ambient ]] && echo ambient || echo default)"
        dry_expect "+ kubectl apply -k $1/istio/$mesh"
        dry_expect "+ kubectl apply -k $1/istio/gateway-api"
    fi
}

# dry_run_mode ROOT MESH RUNTIME WORKLOAD...: one dry run of kind-up.sh and what it must show.
dry_run_mode()
{
    local root="$1" mesh="$2" runtime="$3" out bad=0 workload path
    shift 3
    if ! out="$(bash "$root/scripts/lab/kind-up.sh" --dry-run --mesh "$mesh" --runtime "$runtime" 2>&1)"; then
        echo "kind-up.sh --dry-run --mesh $mesh --runtime $runtime failed: $out"
        return 1
    fi
    dry_run_images "$root"
    for workload in "$@"; do
        dry_expect "+ kubectl -n ecommerce rollout status $workload --timeout="
    done
    dry_run_mesh "$root"
    # Every local path a command names must exist (kustomize dirs, the cluster config,
    # the Dockerfile when present).
    while read -r path; do
        [[ -e $path ]] || { echo "mesh=$mesh: the dry run names $path, which does not exist"; bad=1; }
    done < <(grep -oE "(-k|--config) $root/[^ ]+" <<<"$out" | awk '{print $2}' | sort -u)
    return "$bad"
}

# lab_refusals ROOT: the Dockerfile has a target per service; kind-up.sh refuses a mesh and an
# option it does not know; kind-down.sh's dry run deletes the cluster and the images.
lab_refusals()
{
    local root="$1" lab="$1/scripts/lab" bad=0 svc out
    if [[ -f $root/Dockerfile ]]; then
        for svc in $(ms_services); do
            grep -qiE "^FROM .+ AS $svc\$" "$root/Dockerfile" || { echo "Dockerfile has no target $svc"; bad=1; }
        done
    fi
    if bash "$lab/kind-up.sh" --dry-run --mesh istio >/dev/null 2>&1; then
        echo "kind-up.sh accepted --mesh istio"
        bad=1
    fi
    if bash "$lab/kind-up.sh" --dry-run --bogus >/dev/null 2>&1; then
        echo "kind-up.sh accepted --bogus"
        bad=1
    fi
    out="$(bash "$lab/kind-down.sh" --dry-run --images --runtime podman)" || { echo "kind-down.sh --dry-run failed"; bad=1; }
    grep -qF "+ kind delete cluster --name microshop" <<<"$out" || { echo "kind-down.sh: no kind delete cluster"; bad=1; }
    grep -qF "+ podman rmi --force localhost/microshop/notification:latest" <<<"$out" || { echo "kind-down.sh --images: no rmi"; bad=1; }
    return "$bad"
}

dry_run_check()
{
    local root="$1" mesh runtime bad=0 workloads=()
    lab_syntax_check "$root/scripts/lab" || bad=1
    mapfile -t workloads < <(kubectl kustomize "$root/k8s/overlays/kind" |
        awk '/^kind: /{k=$2} /^metadata:/{m=1; next} m && /^  name: /{if (k=="Deployment"||k=="StatefulSet") print tolower(k) "/" $2; m=0}')
    for mesh in sidecar ambient none; do
        for runtime in docker podman; do
            dry_run_mode "$root" "$mesh" "$runtime" "${workloads[@]}" || bad=1
        done
    done
    lab_refusals "$root" || bad=1
    return "$bad"
}
if dry_run_check "$ROOT"; then
    echo "lab scripts: shellcheck, bash -n, dry runs (3 meshes x 2 runtimes) and kind-down ok"
else
    fail "lab scripts (problems above)"
fi

ms_section "5. planted typos must fail"
# A copy holding what the checks read: k8s/, services/*/service.json, istio/gateway-api (for the Gateway
# name), the lab scripts and lib.sh.
copy_tree()
{
    local dst="$1"
    mkdir -p "$dst/scripts" "$dst/istio"
    cp -r k8s "$dst/"
    cp scripts/lib.sh scripts/services.gen.sh "$dst/scripts/"
    cp --parents services/*/service.json "$dst/"
    cp -r scripts/lab "$dst/scripts/"
    if [[ -d istio/gateway-api ]]; then
        cp -r istio/gateway-api "$dst/istio/"
    fi
}
# shellcheck source=tests/deploy/lib/mutate.sh
. "$ROOT/tests/deploy/lib/mutate.sh"
# planted NAME FILE OLD NEW EXPECTED: the k8s checks on a copy with the typo must fail and
# print EXPECTED. Runs in the background (three at a time); planted_results reports.
planted()
{
    while (($(jobs -rp | wc -l) >= 3)); do
        wait -n || true
    done
    "${PLANTED_RUNNER:-planted_one}" "$@" >"$SCRATCH/planted-${PLANTED_RUNNER:-planted_one}-$1.out" 2>&1 &
}
planted_one()
{
    local name="$1" file="$2" old="$3" new="$4" expected="$5" dir tree=base
    dir="$SCRATCH/$name"
    # Only the tree the typo lands in (a base typo shows in every overlay alike).
    case "$file" in
    k8s/overlays/minikube/*) tree=minikube ;;
    k8s/overlays/kind/* | k8s/components/* | k8s/kind-cluster.yaml) tree=kind ;;
    esac
    copy_tree "$dir"
    plant_check "$name" "$dir/$file" "$old" "$new" "$expected" node "$CHECKS" "$dir" "$tree"
    rm -rf -- "$dir"
}
planted_results()
{
    local f
    wait
    for f in "$SCRATCH"/planted-*.out; do
        cat "$f"
        if grep -q '^FAIL' "$f"; then
            failures=$((failures + 1))
        fi
    done
}
# The typos in k8s/base: fields, types, names that must match, ports, the database.
planted_base_typos()
{
    planted selectr k8s/base/cart.yaml '  type: ClusterIP\n  selector:' '  type: ClusterIP\n  selectr:' \
        'unknown field "selectr" (did you mean "selector"?)'
    planted quoted-replicas k8s/base/order.yaml 'replicas: 2' 'replicas: "2"' '/spec/replicas must be integer'
    planted target-port-name k8s/base/user.yaml 'targetPort: http' 'targetPort: htp' \
        'targetPort htp is not a container port of Deployment/user'
    planted deep-field k8s/base/inventory.yaml 'readOnlyRootFilesystem' 'readOnlyRootFileSystem' \
        'unknown field "readOnlyRootFileSystem" (did you mean "readOnlyRootFilesystem"?)'
    planted pull-policy k8s/base/cart.yaml 'imagePullPolicy: IfNotPresent' 'imagePullPolicy: Sometimes' \
        'imagePullPolicy must be equal to one of the allowed values'
    planted probe-path k8s/base/inventory.yaml 'path: /ready' 'path: /readyz' 'readinessProbe must be GET /ready on port http'
    planted service-account k8s/base/notification.yaml 'serviceAccountName: notification' 'serviceAccountName: notificaton' \
        'ServiceAccount notificaton does not exist'
    planted hpa-target k8s/base/cart.yaml '    kind: Deployment\n    name: cart' '    kind: Deployment\n    name: carts' \
        'target Deployment/carts does not exist'
    planted pdb-selector k8s/base/product-v2.yaml 'AlwaysAllow\n  selector:\n    matchLabels:\n      app: product\n      version: v2' \
        'AlwaysAllow\n  selector:\n    matchLabels:\n      app: product\n      version: v3' \
        'PodDisruptionBudget/product-v2: selects no Deployment/StatefulSet pods'
    planted env-port k8s/base/user.yaml 'value: "3004"' 'value: "3040"' "PORT 3040 differs from services/user/service.json's 3004"
    planted service-port k8s/base/order.yaml '      port: 3003' '      port: 3033' 'Service/order: port 3033 must equal PORT'
    planted grace-period k8s/base/product.yaml 'terminationGracePeriodSeconds: 30' 'terminationGracePeriodSeconds: 12' \
        'terminationGracePeriodSeconds 12 is not above'
    planted missing-database k8s/base/postgres-init/01-databases.sql 'CREATE DATABASE inventory;' '' \
        'DATABASE_URL database inventory is not created'
    planted db-password k8s/base/kustomization.yaml 'ms:microshop-demo@postgres:5432/user' 'ms:microshop-dem0@postgres:5432/user' \
        'DATABASE_URL credentials differ'
    planted kustomize-resource k8s/base/kustomization.yaml '  - order.yaml' '  - ordr.yaml' 'kubectl kustomize'
    planted unknown-kind k8s/base/redis.yaml 'kind: ServiceAccount' 'kind: ServiceAcount' 'unknown apiVersion/kind v1 ServiceAcount'
}
# The typos in the overlays, the kind cluster and the edge component.
planted_overlay_typos()
{
    planted minikube-pull k8s/overlays/minikube/kustomization.yaml 'value: Never' 'value: Always' \
        'imagePullPolicy is Always, expected Never'
    planted kind-port k8s/kind-cluster.yaml 'containerPort: 30080' 'containerPort: 30081' \
        "no extraPortMappings from the edge Service's nodePort 30080"
    planted kind-field k8s/kind-cluster.yaml 'extraPortMappings' 'extraPortMapping' 'unknown field extraPortMapping'
    if [[ -d istio/gateway-api ]]; then
        planted edge-gateway k8s/components/edge/edge-service.yaml 'gateway-name: microshop-gateway' 'gateway-name: microshop-gw' \
            'selects the pods of Gateway microshop-gw'
    fi
}
# planted_load NAME FILE OLD NEW EXPECTED: the same for load-checks.mjs on a copy of what it reads
# (in the background with the others, through planted's slots).
planted_load()
{
    PLANTED_RUNNER=planted_load_one planted "$@"
}
planted_load_one()
{
    local name="$1" file="$2" old="$3" new="$4" expected="$5" dir="$SCRATCH/load-$1"
    mkdir -p "$dir/istio"
    cp -r load-test Dockerfile "$dir/"
    cp -r istio/mesh istio/gateway-api "$dir/istio/"
    plant_check "load $name" "$dir/$file" "$old" "$new" "$expected" node "$LOAD_CHECKS" "$dir"
    rm -rf -- "$dir"
}
# The typos load-checks.mjs must catch.
planted_load_typos()
{
    planted_load field load-test/k8s/base/job.yaml 'restartPolicy: Never' 'restartPolcy: Never' \
        'unknown field "restartPolcy" (did you mean "restartPolicy"?)'
    planted_load scenario load-test/k8s/browse/kustomization.yaml 'value: browse' 'value: brwse' \
        'LOAD_SCENARIO brwse is not a scenario of load-test/wrk/scenarios.lua'
    planted_load target load-test/k8s/base/job.yaml 'http://microshop-gateway-istio.' 'http://microshop-gw-istio.' \
        'is not the Service of a Gateway in istio/gateway-api'
    planted_load mount load-test/k8s/base/job.yaml 'mountPath: /load-test' 'mountPath: /scripts' \
        'nothing is mounted at LOAD_SCRIPTS (/load-test)'
    planted_load method load-test/wrk/microshop.lua '"POST /users (once per VU)"' '"PATCH /users (once per VU)"' \
        'PATCH /users is not admitted by the edge AuthorizationPolicy'
    planted_load image Dockerfile ' AS wrk' ' AS wrk2' 'Dockerfile: has no target wrk'
    planted_load deadline load-test/k8s/base/job.yaml 'activeDeadlineSeconds: 900' 'activeDeadlineSeconds: 300' \
        'activeDeadlineSeconds 300 leaves no minute past LOAD_DURATION (600 s)'
    planted_load overlay load-test/wrk/scenarios.lua '    mixed = {' '    soak = { browse = 1 },\n    mixed = {' \
        'load-test/k8s: no overlay for scenario soak'
}

# yamllint on a copy with a duplicate key and a truthy "yes".
yamllint_planted()
{
    local dir="$SCRATCH/yamllint" out
    copy_tree "$dir"
    mutate "$dir/k8s/base/redis.yaml" 'automountServiceAccountToken: false' 'automountServiceAccountToken: yes'
    mutate "$dir/k8s/base/user.yaml" '  replicas: 2' '  replicas: 2\n  replicas: 3'
    if out="$(yamllint -f parsable -c "$DEPLOY/yamllint.yaml" "$dir/k8s" 2>&1)"; then
        fail "yamllint accepted a duplicate key and a truthy value"
    elif ! grep -q 'truthy' <<<"$out" || ! grep -q 'key-duplicates' <<<"$out"; then
        fail "yamllint missed the duplicate key or the truthy value: $out"
    else
        echo "caught yamllint: duplicate key and truthy value"
    fi
}

# Custom resources through validate.mjs: a quoted weight in a VirtualService, a misspelled field
# in a NetworkChaos, a Gateway API duration in seconds with a decimal
# (tests/deploy/fixtures/broken-custom-resources.yaml); corrected, they pass.
custom_resources_planted()
{
    local out expected
    cp "$DEPLOY/fixtures/broken-custom-resources.yaml" "$SCRATCH/crd.yaml"
    if out="$(node "$DEPLOY/validate.mjs" "$SCRATCH/crd.yaml" 2>&1)"; then
        fail "validate.mjs accepted broken custom resources"
    else
        for expected in '/spec/http/0/route/0/weight must be integer' 'unknown field "laterncy" (did you mean "latency"?)' \
            '/spec/rules/0/timeouts/request must match pattern'; do
            grep -qF -- "$expected" <<<"$out" || fail "validate.mjs did not report '$expected': $out"
        done
        echo "caught custom resources: quoted weight, laterncy, 0.5s timeout"
    fi
    mutate "$SCRATCH/crd.yaml" 'weight: "90"' 'weight: 90'
    mutate "$SCRATCH/crd.yaml" 'laterncy' 'latency'
    mutate "$SCRATCH/crd.yaml" 'request: 0.5s' 'request: 500ms'
    node "$DEPLOY/validate.mjs" "$SCRATCH/crd.yaml" >/dev/null || fail "validate.mjs rejected the corrected custom resources"
}

# The schema conversion must keep valid objects valid: a Gateway address repeated in a oneOf
# branch, a (?i) pattern, int-or-string ports, Chaos Mesh's exclusiveMinimum (Schedule)
# (tests/deploy/fixtures/valid-custom-resources.yaml); a value outside a (?i) pattern fails.
valid_resources_planted()
{
    cp "$DEPLOY/fixtures/valid-custom-resources.yaml" "$SCRATCH/valid.yaml"
    node "$DEPLOY/validate.mjs" "$SCRATCH/valid.yaml" || fail "validate.mjs rejected valid custom resources"
    mutate "$SCRATCH/valid.yaml" 'partial_response_strategy: WARN' 'partial_response_strategy: sometimes'
    if node "$DEPLOY/validate.mjs" "$SCRATCH/valid.yaml" >/dev/null; then
        fail "validate.mjs accepted partial_response_strategy: sometimes"
    else
        echo "caught custom resources: a value outside a (?i) pattern"
    fi
}

# A typo in a path the lab script applies.
lab_path_planted()
{
    local dir="$SCRATCH/lab"
    copy_tree "$dir"
    mutate "$dir/scripts/lab/kind-up.sh" 'k8s/overlays/kind"' 'k8s/overlays/knd"'
    if dry_run_check "$dir" >"$SCRATCH/lab.out" 2>&1; then
        fail "a wrong overlay path in kind-up.sh was not caught"
    else
        echo "caught lab path: $(grep -m1 'overlays/knd' "$SCRATCH/lab.out")"
    fi
}

planted_base_typos
planted_overlay_typos
planted_load_typos
planted_results
yamllint_planted
custom_resources_planted
valid_resources_planted
lab_path_planted

ms_section "summary"
echo "took $((SECONDS - started)) s"
if ((failures)); then
    echo "k8s.test.sh: $failures failure(s)" >&2
    exit 1
fi
echo "k8s.test.sh: all checks passed"

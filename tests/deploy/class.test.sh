#!/usr/bin/env bash
# A class on one cluster (issue 11, item 7), offline: scripts/class/class.mjs renders two
# attendees, and
#   1. the default render (no attendees) is today's material byte for byte;
#   2. isolation (tests/deploy/class-isolation.mjs): namespaces, chaos and fault selectors,
#      identities, routes, node ports, the shared monitors, no "ecommerce" left;
#   3. every rendered object validates against the schemas (tests/deploy/validate.mjs);
#   4. the semantic rules (semantics.mjs, monitoring-semantics.mjs) hold on a copy of the repository
#      whose Kubernetes material is attendee 2's and whose monitoring is the class's;
#   5. scripts/lab/check.mjs per attendee: the --plan grid, and a real run against a stub cluster
#      and two loopback edges, one of which breaks a promise: its column says FAIL (the grid's
#      cells from recorded runs: tests/deploy/lab-check.mjs);
#   6. scripts/lab/kind-up.sh --class: the dry run deploys every attendee in its namespace, the
#      class's port mappings and monitoring once; bin/lab with MS_K8S_DIR acts in the attendee's
#      namespace with their manifests;
#   7. planted violations in copies of the rendered class must each make the isolation check fail
#      with the expected message.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=tests/deploy/lib/tree-copy.sh
. "$ROOT/tests/deploy/lib/tree-copy.sh"
for tool in node kubectl python3 shellcheck; do
    command -v "$tool" >/dev/null || ms_die "$tool is not installed (scripts/install-deps.sh installs it)"
done
[[ -d tests/deploy/node_modules/yaml ]] || ms_die "tests/deploy/node_modules is missing: run (cd tests/deploy && npm ci)"

SCRATCH="$(mktemp -d)"
SERVER_PIDS=()
cleanup()
{
    local pid
    for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf -- "$SCRATCH"
}
trap cleanup EXIT
CLASS="$SCRATCH/class"
ISOLATION=tests/deploy/class-isolation.mjs
# The isolation check remembers kustomize renders here, by content: the planted copies reuse them.
export MS_KUSTOMIZE_CACHE="$SCRATCH/kustomize"
failures=0
started=$SECONDS

fail()
{
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

ms_section "1. the default render is today's material (at $((SECONDS - started)) s)"
node scripts/class/class.mjs render --out "$SCRATCH/default" >/dev/null
trees="$(node -e 'import("./scripts/class/class.mjs").then((m) => console.log([...m.ATTENDEE_TREES, ...m.SHARED_TREES].join(" ")))')"
for tree in $trees; do
    diff -r "$tree" "$SCRATCH/default/default/$tree" >/dev/null || fail "the default render of $tree differs from $tree"
done
echo "default render: identical in $(wc -w <<<"$trees") trees"

ms_section "2. render two attendees, isolation (at $((SECONDS - started)) s)"
node scripts/class/class.mjs render --attendees 1-2 --out "$CLASS"
node "$ISOLATION" "$CLASS" || fail "the rendered class is not isolated (above)"
if node scripts/class/class.mjs render --attendees 0-2 --out "$SCRATCH/bad" 2>/dev/null; then
    fail "class.mjs accepted attendee 0"
fi
# The renderer refuses to write a class that still names the default namespace: here a file it
# copies as it is (a load script), in a copy of the material.
mkdir -p "$SCRATCH/broken"
cp -r k8s istio chaos load-test monitoring "$SCRATCH/broken/"
echo '-- the shop in namespace ecommerce' >>"$SCRATCH/broken/load-test/wrk/scenarios.lua"
if out="$(node scripts/class/class.mjs render --root "$SCRATCH/broken" --attendees 1 --out "$SCRATCH/bad" 2>&1)"; then
    fail "class.mjs rendered a class that still names ecommerce"
elif ! grep -q 'still naming ecommerce: .*attendee-1/load-test/wrk/scenarios.lua' <<<"$out"; then
    fail "class.mjs failed, but not for the leftover: $out"
elif [[ -e $SCRATCH/bad ]]; then
    fail "class.mjs left the class it refused in $SCRATCH/bad"
else
    echo "caught a leftover ecommerce at render time: $out"
fi

ms_section "3. schemas (at $((SECONDS - started)) s)"
for a in 1 2; do
    dir="$CLASS/attendee-$a"
    mapfile -t plain < <(find "$dir/istio/faults" "$dir/chaos" "$dir/access" "$dir/load-test/k8s/generator.yaml" -name '*.yaml' | sort)
    node tests/deploy/validate.mjs "$dir/k8s/overlays/kind" "$dir/k8s/overlays/minikube" "$dir/istio/sidecar" \
        "$dir/istio/ambient" "$dir/istio/gateway-api" "$dir/load-test/k8s/mixed" "${plain[@]}" ||
        fail "attendee $a does not validate"
done
node tests/deploy/validate.mjs "$CLASS/shared/monitoring/k8s" "$CLASS/shared/istio/addons" || fail "shared/ does not validate"

ms_section "4. the semantic rules on attendee 2's material (at $((SECONDS - started)) s)"
copy="$SCRATCH/repo"
copy_tree "$ROOT" "$copy"
cp -r "$CLASS/attendee-2/." "$copy/"
cp -r "$CLASS/shared/monitoring/." "$copy/monitoring/"
grep -q 'namespace: shop-2' "$copy/istio/faults/product-abort.yaml" || fail "the copy does not hold attendee 2's material"
node tests/deploy/semantics.mjs --root "$copy" >"$SCRATCH/semantics.out" 2>&1 || { cat "$SCRATCH/semantics.out"; fail "semantics.mjs on attendee 2"; }
node tests/deploy/monitoring-semantics.mjs --root "$copy" >"$SCRATCH/monitoring.out" 2>&1 ||
    { cat "$SCRATCH/monitoring.out"; fail "monitoring-semantics.mjs on the class's monitoring"; }
echo "semantics.mjs and monitoring-semantics.mjs: $(grep -c . "$SCRATCH/semantics.out") and $(grep -c . "$SCRATCH/monitoring.out") lines, both ok"

ms_section "5. make lab-check per attendee: the grid (at $((SECONDS - started)) s)"
shellcheck -x tests/deploy/class.test.sh || fail "shellcheck"
plan="$(KUBECONFIG=/nonexistent node scripts/lab/check.mjs --plan --attendees 1-2 --class-dir "$CLASS")"
promises="$(node scripts/lab/check.mjs --plan | grep -c .)"
grep -q '^# attendee 2: .*NAMESPACE=shop-2 .*EDGE_URL=http://localhost:8082' <<<"$plan" || fail "the plan grid does not name attendee 2's namespace and edge"
[[ $(grep -cE '^[a-z0-9-]+ +\. +\.$' <<<"$plan") == "$promises" ]] || fail "the plan grid has not one empty row per promise ($promises):"$'\n'"$plan"
# A real run: a stub kubectl (tests/deploy/lib/lab-kubectl) and one loopback edge per attendee,
# attendee 1's sending VIPs to v2, attendee 2's never. The grid must show attendee 2's vip-v2 as FAIL.
edge()
{
    node tests/deploy/lib/lab-edge.mjs "$@" &
    SERVER_PIDS+=($!)
    for _ in $(seq 50); do [[ -s $1 ]] && break; sleep 0.1; done
}
edge "$SCRATCH/port1" 10 1
edge "$SCRATCH/port2" 10 0
for a in 1 2; do
    sed -i "s#^EDGE_URL=.*#EDGE_URL=http://127.0.0.1:$(cat "$SCRATCH/port$a")#" "$CLASS/attendee-$a/attendee.env"
done
status=0
out="$(PATH="$ROOT/tests/deploy/lib/lab-kubectl:$PATH" node scripts/lab/check.mjs --attendees 1-2 --class-dir "$CLASS" --only vip-v2 2>&1)" || status=$?
if [[ $status == 1 ]] && grep -qE '^canary-split +ok +ok$' <<<"$out" && grep -qE '^vip-v2 +ok +FAIL$' <<<"$out" &&
    grep -q '^  \[2\] FAIL vip-v2: .*(0 of 100 from v2)$' <<<"$out" && grep -q '^  \[1\] # lab 7 promises on .*namespace shop-1' <<<"$out"; then
    echo "grid: attendee 1 ok, attendee 2's vip-v2 FAIL (exit 1)"
else
    fail "the grid against two edges: exit $status:"$'\n'"$out"
fi

for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
wait "${SERVER_PIDS[@]}" 2>/dev/null || true
SERVER_PIDS=()

ms_section "6. kind-up.sh --class (at $((SECONDS - started)) s)"
out="$(bash scripts/lab/kind-up.sh --dry-run --class "$CLASS" --runtime podman --no-build 2>&1)" || fail "kind-up.sh --dry-run --class failed: $out"
expect_run()
{
    grep -qF -- "$1" <<<"$out" || fail "kind-up.sh --class: no '$1' in the dry run"
}
expect_run "+ kind create cluster --name microshop --config $CLASS/shared/k8s/kind-cluster.yaml"
expect_run "meshConfig.defaultVirtualServiceExportTo\[0\]=."
expect_run "+ kubectl apply -k $CLASS/shared/monitoring/k8s"
for a in 1 2; do
    expect_run "+ kubectl apply -k $CLASS/attendee-$a/k8s/overlays/kind"
    expect_run "+ kubectl apply -k $CLASS/attendee-$a/istio/sidecar"
    expect_run "+ kubectl apply -f $CLASS/attendee-$a/access/attendee.yaml"
    expect_run "+ kubectl -n shop-$a rollout status deployment/product --timeout="
done
if grep -qE "kubectl apply -k $ROOT/(k8s|monitoring/k8s|istio/(sidecar|gateway-api))( |$)" <<<"$out" || grep -q 'kubectl -n ecommerce' <<<"$out"; then
    fail "kind-up.sh --class still deploys the default shop"
fi
[[ $(grep -c '^+ kubectl apply -k .*/monitoring/k8s$' <<<"$out") == 1 ]] || fail "kind-up.sh --class applies the monitoring more than once"
echo "kind-up.sh --class: 2 attendees deployed in their namespaces, the shared part once"

# bin/lab in a class: a kubectl that logs what it is asked.
mkdir -p "$SCRATCH/bin"
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$SCRATCH/kubectl.log" >"$SCRATCH/bin/kubectl"
chmod +x "$SCRATCH/bin/kubectl"
MS_K8S_DIR="$CLASS/attendee-2" MS_LAB_WAY=kubernetes PATH="$SCRATCH/bin:$PATH" bin/lab load start >/dev/null ||
    fail "bin/lab load start in a class failed"
if ! grep -qxF -- "-n shop-2 apply -f $CLASS/attendee-2/load-test/k8s/generator.yaml" "$SCRATCH/kubectl.log" ||
    ! grep -qF -- "--from-file=$CLASS/attendee-2/load-test/wrk/microshop.lua" "$SCRATCH/kubectl.log"; then
    fail "bin/lab with MS_K8S_DIR did not use attendee 2's namespace and manifests:"$'\n'"$(cat "$SCRATCH/kubectl.log")"
fi
if grep -q 'ecommerce' "$SCRATCH/kubectl.log"; then fail "bin/lab in a class still names ecommerce"; fi
echo "bin/lab with MS_K8S_DIR: namespace shop-2, attendee 2's generator"

ms_section "7. planted violations (at $((SECONDS - started)) s)"
# shellcheck source=tests/deploy/lib/mutate.sh
. "$ROOT/tests/deploy/lib/mutate.sh"
# planted NAME FILE OLD NEW EXPECTED: the isolation check on a copy of the class with the change
# must fail and print EXPECTED (in the background, three at a time). PRE="FILE|OLD|NEW" plants a
# first change that alone is no violation (for one that takes two attendees).
planted_one()
{
    local name="$1" file="$2" old="$3" new="$4" expected="$5" dir="$SCRATCH/planted-$1" pre_file pre_old pre_new
    cp -r "$CLASS" "$dir"
    if [[ -n ${PRE:-} ]]; then
        IFS='|' read -r pre_file pre_old pre_new <<<"$PRE"
        mutate "$dir/$pre_file" "$pre_old" "$pre_new"
    fi
    plant_check "$name" "$dir/$file" "$old" "$new" "$expected" node "$ISOLATION" "$dir"
    rm -rf -- "$dir"
}
planted()
{
    while (($(jobs -rp | wc -l) >= 3)); do wait -n || true; done
    planted_one "$@" >"$SCRATCH/planted-$1.out" 2>&1 &
}
A2=attendee-2
planted leftover $A2/istio/faults/product-abort.yaml 'namespace: shop-2' 'namespace: ecommerce' 'still names ecommerce'
planted no-namespace $A2/chaos/chaos-mesh/pod-kill.yaml '  name: product-pod-kill\n  namespace: shop-2\n' '  name: product-pod-kill\n' \
    "namespace (none: the context's), not shop-2"
planted chaos-no-selector-ns $A2/chaos/chaos-mesh/pod-kill.yaml '    namespaces:\n      - shop-2\n' '' 'spec.selector.namespaces is [], must be [shop-2]'
planted chaos-other-target $A2/chaos/chaos-mesh/network-delay.yaml '      namespaces:\n        - shop-2' '      namespaces:\n        - shop-1' \
    'spec.target.selector.namespaces is [shop-1], must be [shop-2]'
planted litmus-appns $A2/chaos/litmus/product-pod-delete.yaml 'appns: shop-2' 'appns: shop-1' 'appinfo.appns shop-1, not shop-2'
planted fault-host $A2/istio/faults/edge-product-delay.yaml '- product-v1.shop-2.svc.cluster.local' '- product-v1.shop-1.svc.cluster.local' \
    'host product-v1.shop-1.svc.cluster.local is not in shop-2'
planted identity $A2/istio/sidecar/authorization-policy.yaml 'cluster.local/ns/shop-2/sa/pod-delete-sa' 'cluster.local/ns/shop-1/sa/pod-delete-sa' \
    'names identity cluster.local/ns/shop-1/sa/pod-delete-sa'
planted gateway-routes $A2/istio/gateway-api/gateway.yaml 'from: Same' 'from: All' 'admits routes of other namespaces'
planted node-port $A2/k8s/components/edge/edge-service.yaml 'nodePort: 30082' 'nodePort: 30081' 'share node port 30081'
planted unmapped-port $A2/k8s/components/edge/edge-service.yaml 'nodePort: 30082' 'nodePort: 30099' 'node port 30099 is not mapped'
planted binding $A2/access/attendee.yaml '    name: attendee\n    namespace: shop-2' '    name: attendee\n    namespace: shop-1' \
    'binds shop-1/attendee'
HOSTNAME_PLANT='spec:\n  parentRefs:\n    - name: microshop-gateway'
PRE="attendee-1/istio/gateway-api/httproutes.yaml|$HOSTNAME_PLANT|spec:\n  hostnames: [shop.example]\n  parentRefs:\n    - name: microshop-gateway" \
    planted hostname $A2/istio/gateway-api/httproutes.yaml "$HOSTNAME_PLANT" \
    'spec:\n  hostnames: [shop.example]\n  parentRefs:\n    - name: microshop-gateway' 'claim hostname shop.example'
planted shared-monitor shared/monitoring/k8s/monitors.yaml 'matchNames: [shop-1, shop-2]' 'matchNames: [shop-1, shop-2, kube-system]' \
    'selects namespace kube-system'
wait
for f in "$SCRATCH"/planted-*.out; do
    cat "$f"
    grep -q '^FAIL' "$f" && failures=$((failures + 1))
done

ms_section "summary (at $((SECONDS - started)) s)"
if ((failures)); then
    echo "class.test.sh: $failures failure(s)" >&2
    exit 1
fi
echo "class.test.sh: all checks passed"

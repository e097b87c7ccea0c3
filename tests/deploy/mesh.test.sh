#!/usr/bin/env bash
# Checks istio/ and chaos/ offline: yamllint, the CRD schemas and cross-file facts against the
# rendered k8s/base (tests/deploy/mesh.mjs), shellcheck and real runs of chaos/scripts against
# a stub kubectl and a loopback HTTP server, and finally typos planted in a copy of the tree,
# each of which must make mesh.mjs fail with the expected message.
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
TMP="$(mktemp -d /tmp/ms-mesh-test.XXXXXX)"
SERVER_PID=
cleanup()
{
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf -- "$TMP"
}
trap cleanup EXIT

FAILURES=0
PASSES=0
ok()
{
    PASSES=$((PASSES + 1))
    echo "ok   $*"
}
not_ok()
{
    FAILURES=$((FAILURES + 1))
    echo "FAIL $*" >&2
}

for tool in node kubectl shellcheck yamllint curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is required (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ -d tests/deploy/node_modules/ajv ]] || { echo "error: run npm ci in tests/deploy" >&2; exit 1; }

# expect_output NAME PATTERN COMMAND...: COMMAND exits 0 and prints a line matching PATTERN (an ERE).
expect_output()
{
    local name="$1" pattern="$2" out
    shift 2
    if out="$("$@" 2>&1)" && grep -Eq -- "$pattern" <<<"$out"; then
        ok "$name"
    else
        not_ok "$name: expected /$pattern/ in: $out"
    fi
}

# stub_run NAME EXPECTED_STATUS PATTERN ENV... -- COMMAND...: fresh stub state, then COMMAND
# must exit with EXPECTED_STATUS and print PATTERN (an ERE matched across lines).
stub_run()
{
    local name="$1" want="$2" pattern="$3" env=() out status=0
    shift 3
    while [[ $1 != -- ]]; do env+=("$1"); shift; done
    shift
    rm -rf "$TMP/stub" && mkdir -p "$TMP/stub"
    out="$(env STUB_DIR="$TMP/stub" KUBECTL="$STUB" "${env[@]}" "$@" 2>&1)" || status=$?
    if [[ $status == "$want" ]] && tr '\n' ' ' <<<"$out" | grep -Eq -- "$pattern"; then
        ok "$name"
    else
        not_ok "$name: exit $status (expected $want), expected /$pattern/ in: $out"
    fi
}

# yamllint, shellcheck, and the schemas and cross-file checks of tests/deploy/mesh.mjs.
t_static()
{
    echo "== yamllint istio/ chaos/"
    YAMLLINT_CONFIG='{extends: default, rules: {document-start: disable, line-length: {max: 160}, truthy: {check-keys: false}, braces: {max-spaces-inside: 1}, indentation: {indent-sequences: whatever}}}'
    if yamllint -s -d "$YAMLLINT_CONFIG" istio chaos; then ok "yamllint"; else not_ok "yamllint istio chaos"; fi

    echo "== shellcheck"
    if shellcheck -x chaos/scripts/*.sh tests/deploy/mesh.test.sh; then ok "shellcheck chaos/scripts, mesh.test.sh"; else not_ok "shellcheck"; fi

    echo "== schemas and cross-file checks (tests/deploy/mesh.mjs)"
    if node tests/deploy/mesh.mjs --root "$ROOT"; then ok "mesh.mjs"; else not_ok "mesh.mjs found problems (above)"; fi
}

# The dry runs of chaos/scripts print the kubectl commands a real run makes.
t_dry_runs()
{
    echo "== chaos/scripts dry runs"
    expect_output "pod-kill-sla --dry-run prints the delete" \
        '^kubectl -n ecommerce delete pod <a Ready pod> --wait=false$' \
        bash chaos/scripts/pod-kill-sla.sh --dry-run --sla 20 product
    expect_output "pod-kill-sla --dry-run reads the Deployment's selector" \
        "^kubectl -n ecommerce get deployment cart -o go-template=.*matchLabels" \
        bash chaos/scripts/pod-kill-sla.sh --dry-run cart
    expect_output "experiment --dry-run prints apply and delete" \
        '^kubectl -n ecommerce apply -f chaos/chaos-mesh/pod-kill.yaml$' \
        bash chaos/scripts/experiment.sh --dry-run chaos/chaos-mesh/pod-kill.yaml
    expect_output "experiment --dry-run removes the fault" \
        '^kubectl -n ecommerce delete -f istio/faults/edge-product-delay.yaml --ignore-not-found --wait=true$' \
        bash chaos/scripts/experiment.sh --dry-run --url http://127.0.0.1:8080/products istio/faults/edge-product-delay.yaml
    if bash chaos/scripts/pod-kill-sla.sh --dry-run >/dev/null 2>&1; then
        not_ok "pod-kill-sla without a Deployment must be a usage error"
    else
        ok "pod-kill-sla without a Deployment is a usage error"
    fi
}

# The stub plays a cluster: a Deployment with 2 replicas (pods product-a, product-b); after
# `delete pod` the killed pod terminates and a new one becomes Ready after STUB_READY_AFTER
# polls. `apply -f` makes the loopback server answer 503 until `delete -f` (unless
# STUB_NO_RECOVERY=1, a fault that outlives its removal).
STUB="$TMP/kubectl"
write_stub()
{
    cat >"$STUB" <<'EOF'
#!/usr/bin/env bash
set -euo pipefail
d="$STUB_DIR"
echo "$*" >>"$d/calls"
args=" $* "
case "$args" in
*" get deployment "*go-template*) echo "app=product,version=v1," ;;
*" get deployment "*jsonpath*) echo 2 ;;
*" get pods "*)
    if [[ ! -e $d/deleted ]]; then
        printf 'product-a True\nproduct-b True\n'
    else
        n=$(($(cat "$d/polls" 2>/dev/null || echo 0) + 1))
        echo "$n" >"$d/polls"
        if ((n < ${STUB_READY_AFTER:-1})); then
            printf 'product-a terminating\nproduct-b True\nproduct-c False\n'
        else
            printf 'product-b True\nproduct-c True\n'
        fi
    fi
    ;;
*" delete pod "*) touch "$d/deleted" ;;
*" apply -f "*) touch "$d/fault" ;;
*" delete -f "*) [[ ${STUB_NO_RECOVERY:-0} == 1 ]] || rm -f "$d/fault" ;;
*) echo "stub kubectl: unexpected: $*" >&2; exit 1 ;;
esac
EOF
    chmod +x "$STUB"
}

# A loopback server that answers 503 while $TMP/stub/fault exists, 200 otherwise; sets URL, and
# EXP, the experiment run against it that the checks share.
start_server()
{
    node -e '
    const http = require("node:http"), fs = require("node:fs");
    const [flag, portFile] = process.argv.slice(1);
    const s = http.createServer((req, res) => {
      const down = fs.existsSync(flag);
      res.writeHead(down ? 503 : 200, { "content-type": "application/json" });
      res.end(down ? "{\"error\":{}}" : "{\"items\":[]}");
    });
    s.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(s.address().port)));
    setTimeout(() => process.exit(0), 120000).unref();
    ' "$TMP/stub/fault" "$TMP/port" &
    SERVER_PID=$!
    for _ in $(seq 50); do [[ -s $TMP/port ]] && break; sleep 0.1; done
    [[ -s $TMP/port ]] || { echo "error: the loopback server did not start" >&2; exit 1; }
    URL="http://127.0.0.1:$(cat "$TMP/port")/products"
    EXP=(bash chaos/scripts/experiment.sh --url "$URL" --requests 10 --min-success 90 --duration 1
        --settle 0 --max-time 2 chaos/chaos-mesh/network-delay.yaml)
}

# The experiment script: PASS when the steady state comes back once the fault is removed.
t_experiment_pass()
{
    stub_run "experiment: fault removed, steady state back: PASS" 0 \
        'experiment: \[during\] 0/10.*experiment: \[after\] 10/10.*PASS' -- "${EXP[@]}"
    if [[ $(cat "$TMP/stub/calls") == $'-n ecommerce apply -f chaos/chaos-mesh/network-delay.yaml\n-n ecommerce delete -f chaos/chaos-mesh/network-delay.yaml --ignore-not-found --wait=true' ]]; then
        ok "experiment applied then deleted the manifest"
    else
        not_ok "experiment kubectl calls: $(cat "$TMP/stub/calls")"
    fi
}

# The experiment script: FAIL (the fault removed all the same) when the system does not recover,
# and no injection at all when it is not steady before.
t_experiment_fail()
{
    local status=0
    stub_run "experiment: no recovery: FAIL" 1 'experiment: \[after\] 0/10.*FAIL' STUB_NO_RECOVERY=1 -- "${EXP[@]}"
    if grep -q -- 'delete -f' "$TMP/stub/calls"; then
        ok "experiment removed the fault on FAIL too"
    else
        not_ok "experiment did not remove the fault on FAIL"
    fi
    rm -rf "$TMP/stub" && mkdir -p "$TMP/stub" && touch "$TMP/stub/fault"
    STUB_DIR="$TMP/stub" KUBECTL="$STUB" "${EXP[@]}" >"$TMP/out" 2>&1 || status=$?
    if [[ $status == 3 && ! -e $TMP/stub/calls ]] && grep -q 'ABORTED' "$TMP/out"; then
        ok "experiment: not steady before: aborts (exit 3) without injecting"
    else
        not_ok "experiment with an unsteady system: exit $status, $(cat "$TMP/out")"
    fi
}

# pod-kill-sla.sh: PASS within the SLA, FAIL over it or at the timeout.
t_pod_kill_sla()
{
    local KILL
    KILL=(bash chaos/scripts/pod-kill-sla.sh --interval 0.1 --timeout 10)
    stub_run "pod-kill-sla: replacement Ready within the SLA: PASS" 0 \
        'killing pod product-a .*selector app=product,version=v1.*PASS: product fully ready again \(2/2\)' \
        STUB_READY_AFTER=3 -- "${KILL[@]}" --sla 30 product
    if grep -q '^-n ecommerce delete pod product-a --wait=false$' "$TMP/stub/calls"; then
        ok "pod-kill-sla deleted exactly the chosen pod"
    else
        not_ok "pod-kill-sla calls: $(cat "$TMP/stub/calls")"
    fi
    stub_run "pod-kill-sla: recovery slower than the SLA: FAIL" 1 'FAIL: product recovered in [0-9.]+s, over the SLA of 0s' \
        STUB_READY_AFTER=3 -- "${KILL[@]}" --sla 0 product
    stub_run "pod-kill-sla: never ready: FAIL at the timeout" 1 'not fully ready after 1s \(1/2 Ready\)' \
        STUB_READY_AFTER=1000 -- bash chaos/scripts/pod-kill-sla.sh --interval 0.2 --timeout 1 --sla 1 product
}

# The planted typos of tests/deploy/mesh-typos.mjs must each make the checks fail.
t_planted()
{
    echo "== planted typos: each must make the checks fail (tests/deploy/mesh-typos.mjs)"
    if node tests/deploy/mesh-typos.mjs --root "$ROOT"; then ok "planted typos all caught"; else not_ok "planted typos (above)"; fi
}

t_static
t_dry_runs
echo "== chaos/scripts against a stub kubectl and a loopback server"
write_stub
start_server
t_experiment_pass
t_experiment_fail
t_pod_kill_sla
t_planted

echo "mesh: $PASSES passed, $FAILURES failed"
((FAILURES == 0))

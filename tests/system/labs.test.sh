#!/usr/bin/env bash
# The workshop labs (docs/labs/NN-*.md), so that a lab that drifts from the code fails:
#   1. tests/system/labs.mjs checks every lab: its sections, the repository paths it names, and
#      every Kubernetes file or folder it applies against the schemas (tests/deploy/validate.mjs);
#   2. it runs the local part of every lab, block by block, against a native stack of this test
#      (scripts/up.sh on free ports in a temporary directory: the labs' own `make up` finds it
#      running), comparing each block's output with the expected lines below it;
#   3. the checker itself is shown to fail: on a lab whose expected line was changed, on a lab
#      naming a file that does not exist, and on one applying a manifest with a misspelled field.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"
cd "$ROOT"

T="$(mktemp -d /tmp/ms-labs.XXXXXX)"
cleanup()
{
    local rc=$?
    trap - EXIT
    ms_stack_teardown "$T" "$rc"
    exit "$rc"
}
trap cleanup EXIT

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

mapfile -t LABS < <(find docs/labs -maxdepth 1 -name '[0-9][0-9]-*.md' | sort)
((${#LABS[@]} >= 7)) || fail "expected the seven labs in docs/labs, found ${#LABS[@]}"

ms_section "the checker fails on broken labs"
# a lab whose output no longer matches: the first expected line of lab 2 changed
awk '/^```text expected/ && !done { print; getline; print "this line is not in the output"; done = 1; next } { print }' \
    docs/labs/02-timeouts.md >"$T/02-drifted.md"
# a lab naming a file that is gone
sed 's|istio/faults/edge-product-delay.yaml|istio/faults/no-such-file.yaml|' docs/labs/02-timeouts.md >"$T/02-missing.md"
# a lab applying a manifest with a misspelled field
mkdir -p "$T/k8s"
sed 's/^\(  *\)timeout: 0.5s/\1timout: 0.5s/' istio/mesh/virtual-services.yaml >"$T/k8s/vs.yaml"
sed "s|kubectl apply -f istio/mesh/virtual-services.yaml|kubectl apply -f $T/k8s/vs.yaml|" \
    docs/labs/02-timeouts.md >"$T/02-invalid.md"
if node tests/system/labs.mjs check "$T/02-missing.md" >"$T/missing.log" 2>&1; then
    cat "$T/missing.log"
    fail "labs.mjs accepted a lab naming a file that does not exist"
fi
grep -q 'names istio/faults/no-such-file.yaml, which does not exist' "$T/missing.log" ||
    fail "labs.mjs did not say which file is missing: $(cat "$T/missing.log")"
echo "ok: a lab naming a missing file fails"
if node tests/system/labs.mjs check "$T/02-invalid.md" >"$T/invalid.log" 2>&1; then
    cat "$T/invalid.log"
    fail "labs.mjs accepted a lab applying a manifest with a misspelled field"
fi
grep -q 'timout' "$T/invalid.log" || fail "the misspelled field was not reported: $(cat "$T/invalid.log")"
echo "ok: a lab applying an invalid manifest fails"

ms_section "static checks of ${#LABS[@]} labs"
node tests/system/labs.mjs check "${LABS[@]}" || fail "the labs have problems (listed above)"

ms_section "the native stack (scripts/up.sh on free ports)"
ms_stack_env "$T" "$BIN_DIR"
bash scripts/up.sh >"$T/up.log" 2>&1 || fail "scripts/up.sh failed (its log is below)"
LAB_PORTS="$(ms_stack_port_map)"
export LAB_PORTS
echo "ok: up; ports $LAB_PORTS"

ms_section "running the labs"
started=$SECONDS
node tests/system/labs.mjs run "${LABS[@]}" || fail "a lab failed (see above)"
echo "ok: every lab ran as written in $((SECONDS - started)) s"

ms_section "the checker fails on a drifted lab"
if node tests/system/labs.mjs run "$T/02-drifted.md" >"$T/drifted.log" 2>&1; then
    cat "$T/drifted.log"
    fail "labs.mjs accepted a lab whose expected output is not what the commands print"
fi
grep -q 'expected a line matching' "$T/drifted.log" || fail "no mismatch reported: $(cat "$T/drifted.log")"
echo "ok: a lab whose expected output drifted fails"
echo "all lab checks passed"

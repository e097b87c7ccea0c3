#!/usr/bin/env bash
# The workshop labs (docs/labs/NN-*.md), so that a lab that drifts from the code fails:
#   1. tests/system/labs.mjs checks every lab: its sections, the repository paths it names, and
#      every Kubernetes file or folder it applies against the schemas (tests/deploy/validate.mjs);
#   2. it runs the local part of every lab, block by block, against a native stack of this test
#      (scripts/up.sh on free ports in a temporary directory: the labs' own `make up` finds it
#      running; MS_FAULTPROXY=1, so lab 8 finds the faultproxies it loses answers with),
#      comparing each block's output with the expected lines below it;
#   3. make reset, then lab 6 again: it prints the counts it states (8 orders, not 16); lab 8 with
#      its proxy losing nothing fails (its counts of ambiguous inserts are checked);
#   4. the checker itself is shown to fail: on a lab whose expected line was changed, on a lab
#      naming a file that does not exist, on one applying a manifest with a misspelled field,
#      on expected output that shows test markup, and on shown output its matchers reject.
set -euo pipefail

# shellcheck source=tests/system/lib/stack-test.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/stack-test.sh"
# shellcheck source=chaos/local/lib/native.sh
. "$ROOT/chaos/local/lib/native.sh"
cd "$ROOT"

ms_test_scratch labs

mapfile -t LABS < <(find docs/labs -maxdepth 1 -name '[0-9][0-9]-*.md' | sort)
((${#LABS[@]} >= 8)) || fail "expected the eight labs in docs/labs, found ${#LABS[@]}"

ms_section "the checker fails on broken labs"
# a lab whose output no longer matches: the fault lab 2 states, changed
grep -qx 'product: delay 2000 ms on 100 % of requests' docs/labs/02-timeouts.md ||
    fail "lab 2 no longer states its fault as this test expects"
sed 's/^product: delay 2000 ms on 100 % of requests$/product: delay 3000 ms on 100 % of requests/' \
    docs/labs/02-timeouts.md >"$T/02-drifted.md"
# expected output showing test markup to people, and output shown that its matchers reject
awk '/^```text expected/ && !done { print; getline; print "200 in 0\\.[0-9]+s (re)"; done = 1; next } { print }' \
    docs/labs/02-timeouts.md >"$T/02-markup.md"
awk '/^<!-- lab-expect/ && !done { print; print "a line the shown output lacks"; done = 1; next } { print }' \
    docs/labs/02-timeouts.md >"$T/02-unshown.md"
# a lab naming a file that is gone
sed 's|istio/faults/edge-product-delay.yaml|istio/faults/no-such-file.yaml|' docs/labs/02-timeouts.md >"$T/02-missing.md"
# a lab applying a manifest with a misspelled field
mkdir -p "$T/k8s"
sed 's/^\(  *\)timeout: 0.5s/\1timout: 0.5s/' istio/mesh/virtual-services.yaml >"$T/k8s/vs.yaml"
sed "s|kubectl apply -f istio/mesh/virtual-services.yaml|kubectl apply -f $T/k8s/vs.yaml|" \
    docs/labs/02-timeouts.md >"$T/02-invalid.md"
# must_fail MODE LAB PATTERN WHAT: `labs.mjs MODE LAB` fails, saying PATTERN (grep -E).
must_fail()
{
    local log="$T/must-fail.log"
    if node tests/system/labs.mjs "$1" "$2" >"$log" 2>&1; then
        cat "$log"
        fail "labs.mjs accepted $4"
    fi
    grep -qE -- "$3" "$log" || fail "labs.mjs did not say '$3' for $4: $(cat "$log")"
    echo "ok: $4 fails"
}
must_fail check "$T/02-missing.md" 'names istio/faults/no-such-file.yaml, which does not exist' \
    "a lab naming a missing file"
must_fail check "$T/02-invalid.md" timout "a lab applying an invalid manifest"
must_fail check "$T/02-markup.md" 'the expected output shows test markup' \
    "expected output showing (re) to people"
must_fail check "$T/02-unshown.md" 'the output shown does not pass its lab-expect matchers' \
    "shown output its matchers reject"

ms_section "static checks of ${#LABS[@]} labs"
node tests/system/labs.mjs check "${LABS[@]}" || fail "the labs have problems (listed above)"

ms_section "the native stack (scripts/up.sh on free ports, a faultproxy before every dependency)"
ms_stack_env "$T" "$BIN_DIR"
# MS_FAULTPROXY=1, as lab 8 asks: its lost answers come from the proxy in front of order's PostgreSQL
ms_faultproxy_free_base || fail "no free ports for the faultproxies"
bash scripts/up.sh >"$T/up.log" 2>&1 || fail "scripts/up.sh failed (its log is below)"
LAB_PORTS="$(ms_stack_port_map)"
export LAB_PORTS
echo "ok: up; ports $LAB_PORTS"

ms_section "running the labs"
started=$SECONDS
node tests/system/labs.mjs run "${LABS[@]}" || fail "a lab failed (see above)"
echo "ok: every lab ran as written in $((SECONDS - started)) s"

ms_section "make reset, then lab 6 again: its counts are the lab's"
# Without the reset lab 6's shopper would have 16 orders, not the 8 the lab states.
make -s reset || fail "make reset failed"
node tests/system/labs.mjs run docs/labs/06-graceful-degradation.md || fail "lab 6 after make reset"
echo "ok: after make reset, lab 6 printed what it states"
must_fail run docs/labs/06-graceful-degradation.md 'orders: 8' "lab 6 run again without make reset"

ms_section "lab 8 with no answer lost fails"
# The proxy told to lose nothing (its message kept): the purchase is no longer ambiguous, and the
# lab says so at the first count of ambiguous inserts (make reset restarted order: it starts at 0).
grep -qx 'bin/lab net order-pg lose 100' docs/labs/08-lost-answers.md ||
    fail "lab 8 no longer loses answers as this test expects"
sed 's|^bin/lab net order-pg lose 100$|bin/lab net order-pg lose 0 >/dev/null \&\& echo "order-pg: lose 100 % of answers"|' \
    docs/labs/08-lost-answers.md >"$T/08-no-loss.md"
must_fail run "$T/08-no-loss.md" 'order_ambiguous_inserts_total\{fate="placed"\}' "lab 8 with no answer lost"

ms_section "the checker fails on a drifted lab"
must_fail run "$T/02-drifted.md" 'expected a line matching' "a lab whose expected output drifted"
echo "all lab checks passed"
